//! Reads served while a worker waits inside its dataflow.
//!
//! A view's export operator waits, inside the worker's step, while a
//! database sink's queue is full: that is how backpressure holds ingestion
//! back while a sink is down. A worker that only answered reads between
//! steps would then answer none, and every API read would time out for as
//! long as the sink stays down. So each worker thread registers, with
//! [`serve_while_waiting`], how it answers the reads in its inbox; a wait
//! calls [`answer_waiting_reads`] on every turn, and so does the worker's
//! loop between steps (one way to answer, in both places).
//!
//! Answers stay consistent: a read's `as_of` is below every worker's
//! published frontier, and the waiting worker's traces already hold every
//! update at or before it (the step in progress only adds later ones).

use std::cell::RefCell;

thread_local! {
    static SERVE: RefCell<Option<Box<dyn FnMut()>>> = RefCell::new(None);
}

/// Registers how this thread answers its waiting reads (replacing any
/// earlier registration).
pub fn serve_while_waiting(serve: impl FnMut() + 'static) {
    SERVE.with(|s| *s.borrow_mut() = Some(Box::new(serve)));
}

/// Removes this thread's registration (before what it reads is dropped).
pub fn stop_serving() {
    SERVE.with(|s| *s.borrow_mut() = None);
}

/// Answers the reads waiting for this thread, if it registered how. A call
/// from inside the registered function itself does nothing.
pub fn answer_waiting_reads() {
    SERVE.with(|s| {
        if let Ok(mut serve) = s.try_borrow_mut() {
            if let Some(serve) = serve.as_mut() {
                serve();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn a_registered_thread_answers_and_others_do_nothing() {
        let calls = Rc::new(RefCell::new(0));
        let counted = Rc::clone(&calls);
        serve_while_waiting(move || *counted.borrow_mut() += 1);
        answer_waiting_reads();
        answer_waiting_reads();
        assert_eq!(*calls.borrow(), 2);
        std::thread::spawn(answer_waiting_reads).join().unwrap();
        assert_eq!(*calls.borrow(), 2, "another thread has no registration");
        stop_serving();
        answer_waiting_reads();
        assert_eq!(*calls.borrow(), 2);
    }

    #[test]
    fn a_nested_call_does_nothing() {
        let calls = Rc::new(RefCell::new(0));
        let counted = Rc::clone(&calls);
        serve_while_waiting(move || {
            *counted.borrow_mut() += 1;
            answer_waiting_reads();
        });
        answer_waiting_reads();
        assert_eq!(*calls.borrow(), 1);
        stop_serving();
    }
}
