//! `reduce_view`: the one reduce shape every keyed view uses — arrange the
//! input by key, compute the key's row(s) from all its values, and keep the
//! output arranged so the API and sinks can read it.

use crate::{Diff, Time};
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
use differential_dataflow::{ExchangeData, Hashable, VecCollection};

/// A view arranged by key with one row value per key.
pub type ViewTrace<K, V> = TraceAgent<ValSpine<K, V, Time, Diff>>;

/// Reduces each key's values (sorted, with multiplicities) to output rows.
pub fn reduce_view<'s, K, V, R, L>(
    input: VecCollection<'s, Time, (K, V), Diff>,
    name: &str,
    mut logic: L,
) -> Arranged<'s, ViewTrace<K, R>>
where
    K: ExchangeData + Hashable,
    V: ExchangeData,
    R: ExchangeData,
    L: FnMut(&K, &[(&V, Diff)], &mut Vec<(R, Diff)>) + 'static,
{
    input
        .arrange_by_key_named(&format!("arrange_{name}"))
        .reduce_abelian::<_, ValBuilder<K, R, Time, Diff>, ValSpine<K, R, Time, Diff>, _, _>(
            name,
            move |key, input, output| logic(key, input, output),
            |vec, key, updates| {
                vec.clear();
                vec.extend(updates.drain(..).map(|(v, t, r)| ((key.clone(), v), t, r)));
            },
        )
}
