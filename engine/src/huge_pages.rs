//! Transparent huge pages off for the engine's process.
//!
//! The allocator (mimalloc) asks the kernel for huge pages on its large
//! regions. The engine allocates and frees large buffers at a high rate
//! (differential's batchers, view reads, exchange buffers): each first
//! touch of a fresh 2 MiB huge page makes the kernel zero all of it, and
//! freed regions return to the kernel and are faulted back zeroed again.
//! Profiles of a realistic replay put that zeroing (`clear_page_erms`,
//! from `do_huge_pmd_anonymous_page`) at ~22% of the CPU. With huge pages
//! off the process faults 4 KiB pages, zeroes only what it touches, and
//! measured 16% less CPU at the same peak RSS (docs/benchmarks.md).
//!
//! `MIMALLOC_ALLOW_THP=1` in the environment leaves huge pages on.

/// Turns transparent huge pages off for this process (and any child),
/// unless `MIMALLOC_ALLOW_THP` asks otherwise. Returns whether it did.
pub fn disable_unless_asked() -> bool {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return false;
    }
    disable()
}

#[cfg(target_os = "linux")]
fn disable() -> bool {
    nix::sys::prctl::set_thp_disable(true).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn disable() -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn the_process_flag_is_set() {
        // Tests run without MIMALLOC_ALLOW_THP; the flag is per process.
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
            assert!(super::disable_unless_asked());
            assert_eq!(nix::sys::prctl::get_thp_disable(), Ok(true));
        }
    }
}
