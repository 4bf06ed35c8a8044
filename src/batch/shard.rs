//! `--shard K/N`: a deterministic subset of the cases.
//!
//! The rule: cases are grouped into *units* — all turns of one `session` form one unit (so a
//! conversation is never split), every other case is a unit of its own; malformed entries are
//! units too. Units are numbered in file order of their first line, starting at 0, and unit `i`
//! belongs to shard `(i mod N) + 1`. The same inputs file and `N` always give the same split,
//! every case lands in exactly one shard, and the shards differ in size by at most one unit.

use std::collections::HashMap;

use super::case::{Case, InvalidCase};
use super::error::BatchError;

/// Shard `index` of `count` (both 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Self, BatchError> {
        let error = || BatchError::Shard {
            value: text.to_owned(),
        };
        let (index, count) = text.trim().split_once('/').ok_or_else(error)?;
        let index: usize = index.trim().parse().map_err(|_| error())?;
        let count: usize = count.trim().parse().map_err(|_| error())?;
        if index == 0 || count == 0 || index > count {
            return Err(error());
        }
        Ok(Self { index, count })
    }

    /// Keeps this shard's cases and malformed entries.
    pub fn select(
        &self,
        cases: Vec<Case>,
        invalid: Vec<InvalidCase>,
    ) -> (Vec<Case>, Vec<InvalidCase>) {
        // First line of each unit, in file order.
        let mut unit_of_session: HashMap<String, usize> = HashMap::new();
        let mut firsts: Vec<(usize, Option<String>)> = cases
            .iter()
            .filter_map(|case| match &case.session {
                Some(session) if unit_of_session.contains_key(session) => None,
                Some(session) => {
                    unit_of_session.insert(session.clone(), case.line);
                    Some((case.line, Some(session.clone())))
                }
                None => Some((case.line, None)),
            })
            .chain(invalid.iter().map(|invalid| (invalid.line, None)))
            .collect();
        firsts.sort_by_key(|(line, _)| *line);
        let mut shard_of_line: HashMap<usize, usize> = HashMap::new();
        let mut shard_of_session: HashMap<String, usize> = HashMap::new();
        for (position, (line, session)) in firsts.into_iter().enumerate() {
            let shard = position % self.count + 1;
            match session {
                Some(session) => {
                    shard_of_session.insert(session, shard);
                }
                None => {
                    shard_of_line.insert(line, shard);
                }
            }
        }
        let mine = |line: usize, session: Option<&String>| {
            let shard = match session {
                Some(session) => shard_of_session.get(session),
                None => shard_of_line.get(&line),
            };
            shard == Some(&self.index)
        };
        let cases = cases
            .into_iter()
            .filter(|case| mine(case.line, case.session.as_ref()))
            .collect();
        let invalid = invalid
            .into_iter()
            .filter(|invalid| mine(invalid.line, None))
            .collect();
        (cases, invalid)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_k_of_n() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sessions_stay_together_and_every_case_lands_once() {
        let mut cases = Vec::new();
        for line in 1..=10 {
            let mut case = Case::new(line, json!("x"));
            if line % 3 == 0 {
                case.session = Some("s".to_owned());
            }
            cases.push(case);
        }
        let invalid = vec![InvalidCase {
            line: 11,
            message: "bad".to_owned(),
            text: String::new(),
        }];
        let mut seen = Vec::new();
        for index in 1..=3 {
            let shard = Shard { index, count: 3 };
            let (mine, bad) = shard.select(cases.clone(), invalid.clone());
            let sessions: Vec<usize> = mine
                .iter()
                .filter(|case| case.session.is_some())
                .map(|case| case.line)
                .collect();
            assert!(sessions.is_empty() || sessions == vec![3, 6, 9]);
            seen.extend(mine.iter().map(|case| case.line));
            seen.extend(bad.iter().map(|invalid| invalid.line));
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=11).collect::<Vec<_>>());
        // Units in order: 1,2,3(s),4,5,7,8,10,11 → shard 1 gets units 0,3,6 = lines 1,4,8.
        let (first, _) = Shard { index: 1, count: 3 }.select(cases, invalid);
        assert_eq!(
            first.iter().map(|case| case.line).collect::<Vec<_>>(),
            vec![1, 4, 8]
        );
    }
}
