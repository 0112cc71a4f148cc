//! An in-memory index from (account, span id) to table rows.
//!
//! Span ids are random (UUIDs), so a SQLite index on them takes a random page
//! for every insert, and writing those pages back made up much of the cost of a
//! write. This map holds a hash and a row number per span instead; it is rebuilt
//! from the table at open and updated after each commit. It keys on a 64-bit hash, so a
//! lookup returns candidate rows that the caller checks in SQL.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use rusqlite::Connection;

enum Slot {
    One(i64),
    Many(Vec<i64>),
}

/// Candidate rowids of each (account, span id).
#[derive(Default)]
pub(crate) struct IdIndex {
    map: HashMap<u64, Slot>,
}

fn key(account: &str, id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    account.hash(&mut h);
    id.hash(&mut h);
    h.finish()
}

impl IdIndex {
    /// Reads every stored span's (account, id, rowid).
    pub fn load(conn: &Connection) -> rusqlite::Result<IdIndex> {
        let mut index = IdIndex::default();
        let mut st = conn.prepare("SELECT rowid, account_id, id FROM spans")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let rowid: i64 = r.get(0)?;
            let account = r.get_ref(1)?.as_str()?;
            let id = r.get_ref(2)?.as_str()?;
            index.add(account, id, rowid);
        }
        Ok(index)
    }

    /// Records a newly inserted row.
    pub fn add(&mut self, account: &str, id: &str, rowid: i64) {
        match self.map.entry(key(account, id)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Slot::One(rowid));
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let slot = o.get_mut();
                match slot {
                    Slot::One(first) => *slot = Slot::Many(vec![*first, rowid]),
                    Slot::Many(v) => v.push(rowid),
                }
            }
        }
    }

    /// Whether a span with this id may be stored in this account; `false` is sure.
    pub fn may_contain(&self, account: &str, id: &str) -> bool {
        self.map.contains_key(&key(account, id))
    }

    /// Rows that may hold a span with this id in this account (check them).
    pub fn candidates(&self, account: &str, id: &str) -> Vec<i64> {
        match self.map.get(&key(account, id)) {
            None => Vec::new(),
            Some(Slot::One(r)) => vec![*r],
            Some(Slot::Many(v)) => v.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_to_all_their_rows_per_account() {
        let mut i = IdIndex::default();
        i.add("a", "x", 1);
        i.add("a", "x", 7);
        i.add("b", "x", 3);
        assert_eq!(i.candidates("a", "x"), vec![1, 7]);
        assert_eq!(i.candidates("b", "x"), vec![3]);
        assert!(i.candidates("a", "y").is_empty());
        assert!(i.may_contain("b", "x") && !i.may_contain("b", "y"));
    }
}
