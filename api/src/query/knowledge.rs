//! Knowledge queries (api.md, "Knowledge"): related entities and directory
//! search, ranked as the contract says, as plain functions over the rows
//! the workers return.

use helixflow_operators::intern::{Id, Interner};
use helixflow_operators::knowledge::Link;
use std::collections::HashMap;

/// One relationship row between the entity and a related one.
#[derive(Clone, Debug, PartialEq)]
pub struct Relation<'a> {
    pub rel_type: &'a str,
    /// `out` when the entity is the row's source, `in` when the target.
    pub direction: &'static str,
    pub weight: f64,
}

/// A related entity, before its directory name is looked up.
#[derive(Clone, Debug, PartialEq)]
pub struct Related<'a> {
    pub id: Id,
    pub cooccurrence: u64,
    /// Sorted by (`rel_type`, `direction`).
    pub relationships: Vec<Relation<'a>>,
}

/// Every entity related to `entity`: co-occurring ones (`partners`, with
/// their shared conversations) and relationship endpoints (`links`), never
/// itself. Ordered by co-occurrence descending, then the number of
/// relationships descending, then id (UTF-8 bytes).
pub fn related<'a>(
    entity: Id,
    partners: &HashMap<Id, u64>,
    links: &[Link],
    ids: &'a Interner,
) -> Vec<Related<'a>> {
    let mut by_id: HashMap<Id, Related<'a>> = HashMap::new();
    for (id, n) in partners.iter().filter(|(id, _)| **id != entity) {
        by_id.entry(*id).or_insert_with(|| empty(*id)).cooccurrence = *n;
    }
    for link in links.iter().filter(|l| l.other != entity) {
        by_id
            .entry(link.other)
            .or_insert_with(|| empty(link.other))
            .relationships
            .push(Relation {
                rel_type: ids.resolve(link.rel_type),
                direction: if link.out { "out" } else { "in" },
                weight: link.weight.0,
            });
    }
    let mut out: Vec<Related<'a>> = by_id.into_values().collect();
    for r in &mut out {
        r.relationships.sort_by(|a, b| {
            (a.rel_type.as_bytes(), a.direction).cmp(&(b.rel_type.as_bytes(), b.direction))
        });
    }
    out.sort_unstable_by(|a, b| {
        b.cooccurrence
            .cmp(&a.cooccurrence)
            .then(b.relationships.len().cmp(&a.relationships.len()))
            .then_with(|| {
                ids.resolve(a.id)
                    .as_bytes()
                    .cmp(ids.resolve(b.id).as_bytes())
            })
    });
    out
}

fn empty<'a>(id: Id) -> Related<'a> {
    Related {
        id,
        cooccurrence: 0,
        relationships: Vec::new(),
    }
}

/// A search query checked as the contract says: non-empty after trimming
/// Unicode White_Space, at most 256 code points as sent. The trimmed query
/// in lower case (Unicode's default full mapping), or why not.
pub fn search_term(query: &str) -> Result<String, &'static str> {
    if query.chars().count() > 256 {
        return Err("`query` is longer than 256 characters");
    }
    let trimmed = query.trim();
    if trimmed.is_empty() {
        return Err("`query` is empty once white space is trimmed");
    }
    Ok(trimmed.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use helixflow_operators::facts::OrdF64;

    #[test]
    fn related_orders_by_cooccurrence_then_relationships_then_id() {
        let ids = Interner::new();
        let i = |s: &str| ids.intern(s).unwrap();
        let (me, a, b, c, d) = (i("me"), i("b-ent"), i("a-ent"), i("c-ent"), i("d-ent"));
        let partners = HashMap::from([(a, 2), (b, 2), (c, 5), (me, 9)]);
        let link = |other, rel: &str, out| Link {
            other,
            rel_type: i(rel),
            out,
            weight: OrdF64(0.5),
        };
        let links = vec![
            link(a, "uses", true),
            link(d, "uses", false),
            link(d, "knows", true),
            link(d, "uses", true),
            link(me, "self", true),
        ];
        let r = related(me, &partners, &links, &ids);
        let order: Vec<&str> = r.iter().map(|x| ids.resolve(x.id)).collect();
        // c (5); then b-ent and a-ent tie on 2 shared conversations: b-ent
        // has a relationship; then d (no co-occurrence, 3 relationships).
        assert_eq!(order, vec!["c-ent", "b-ent", "a-ent", "d-ent"]);
        let d_rels: Vec<(&str, &str)> = r[3]
            .relationships
            .iter()
            .map(|x| (x.rel_type, x.direction))
            .collect();
        assert_eq!(
            d_rels,
            vec![("knows", "out"), ("uses", "in"), ("uses", "out")]
        );
        assert!(r.iter().all(|x| x.id != me), "never related to itself");
    }

    #[test]
    fn search_terms_are_trimmed_lowered_and_bounded() {
        assert_eq!(search_term("  ÉNT\u{3000}").unwrap(), "ént");
        assert!(search_term(" \t\u{2003} ").is_err());
        assert!(search_term(&"x".repeat(257)).is_err());
        // 256 code points of 2 bytes each are fine.
        assert!(search_term(&"é".repeat(256)).is_ok());
    }
}
