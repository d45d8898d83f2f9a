//! Subquery-shape tag state and move-in / move-out handling (ref §3.3, §3.4).
//!
//! A row of a `where ... IN (SELECT ...)` shape carries one tag per DNF disjunct; a tag is the
//! per-position slots joined with `/` (empty slot = position not in this disjunct). Shapes
//! with `active_conditions` keep one boolean per position; the row is visible while some
//! disjunct has all its participating positions active. A move-out never comes with per-row
//! deletes, so the materializer must remove rows itself.

use crate::protocol::{ChangeHeaders, MovePattern};

/// The subquery bookkeeping stored alongside a row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagState {
    /// One tag per DNF disjunct, slots separated by `/`.
    pub tags: Vec<String>,
    /// Whether each position currently holds; empty for shapes without `active_conditions`.
    pub active_conditions: Vec<bool>,
}

/// What a move-out did to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MoveOutcome {
    /// No tag matched any pattern.
    Untouched,
    /// Something matched but the row is still visible.
    Kept,
    /// The row no longer qualifies and must be removed.
    Gone,
}

/// The slot of `tag` at `pos` (`None` past the end).
fn slot(tag: &str, pos: u32) -> Option<&str> {
    tag.split('/').nth(usize::try_from(pos).ok()?)
}

/// True when `tag` holds the pattern's (non-empty) value at the pattern's position.
fn matches(tag: &str, p: &MovePattern) -> bool {
    !p.value.is_empty() && slot(tag, p.pos) == Some(p.value.as_str())
}

impl TagState {
    /// The state an insert (or an update of an unknown row) starts with; `None` when the
    /// headers carry no tag information (ordinary shapes).
    pub(crate) fn from_headers(h: &ChangeHeaders) -> Option<Box<TagState>> {
        if h.tags.is_empty() && h.active_conditions.is_empty() {
            return None;
        }
        let mut tags: Vec<String> = Vec::with_capacity(h.tags.len());
        for t in &h.tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        Some(Box::new(TagState {
            tags,
            active_conditions: h.active_conditions.clone(),
        }))
    }

    /// Apply an update's tag headers: drop `removed_tags`, add `tags` (deduplicated), replace
    /// `active_conditions` when the update carries them.
    pub(crate) fn update(state: &mut Option<Box<TagState>>, h: &ChangeHeaders) {
        if h.tags.is_empty() && h.removed_tags.is_empty() && h.active_conditions.is_empty() {
            return;
        }
        let s = state.get_or_insert_with(Box::default);
        s.tags.retain(|t| !h.removed_tags.contains(t));
        for t in &h.tags {
            if !s.tags.contains(t) {
                s.tags.push(t.clone());
            }
        }
        if !h.active_conditions.is_empty() {
            s.active_conditions = h.active_conditions.clone();
        }
    }

    /// True while some disjunct has every participating position active (always true for
    /// shapes without `active_conditions`, whose rows leave by losing their last tag). A
    /// position missing from `active_conditions` counts as active: malformed input never
    /// makes rows vanish.
    pub fn is_visible(&self) -> bool {
        if self.active_conditions.is_empty() {
            return true;
        }
        self.tags.iter().any(|tag| {
            tag.split('/')
                .enumerate()
                .all(|(i, s)| s.is_empty() || self.active_conditions.get(i).copied().unwrap_or(true))
        })
    }

    /// Apply a move-out. With `active_conditions`: matched positions become inactive and the
    /// row goes when no disjunct stays fully active. Without: matching tags are dropped and the
    /// row goes when none is left.
    pub(crate) fn move_out(&mut self, patterns: &[MovePattern]) -> MoveOutcome {
        let mut touched = false;
        if self.active_conditions.is_empty() {
            let before = self.tags.len();
            self.tags.retain(|t| !patterns.iter().any(|p| matches(t, p)));
            touched = self.tags.len() != before;
            if touched && self.tags.is_empty() {
                return MoveOutcome::Gone;
            }
        } else {
            for p in patterns {
                if self.tags.iter().any(|t| matches(t, p)) {
                    if let Some(flag) = usize::try_from(p.pos)
                        .ok()
                        .and_then(|i| self.active_conditions.get_mut(i))
                    {
                        *flag = false;
                        touched = true;
                    }
                }
            }
            if touched && !self.is_visible() {
                return MoveOutcome::Gone;
            }
        }
        if touched {
            MoveOutcome::Kept
        } else {
            MoveOutcome::Untouched
        }
    }

    /// Apply a move-in: matched positions become active again. Rows that newly qualify arrive
    /// as inserts, so nothing is created here.
    pub(crate) fn move_in(&mut self, patterns: &[MovePattern]) {
        for p in patterns {
            if self.tags.iter().any(|t| matches(t, p)) {
                if let Some(flag) = usize::try_from(p.pos)
                    .ok()
                    .and_then(|i| self.active_conditions.get_mut(i))
                {
                    *flag = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(pos: u32, value: &str) -> MovePattern {
        MovePattern {
            pos,
            value: value.into(),
        }
    }

    fn state(tags: &[&str], active: &[bool]) -> TagState {
        TagState {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            active_conditions: active.to_vec(),
        }
    }

    #[test]
    fn slots_split_on_slash() {
        assert_eq!(slot("a/b/", 0), Some("a"));
        assert_eq!(slot("a/b/", 1), Some("b"));
        assert_eq!(slot("a/b/", 2), Some(""));
        assert_eq!(slot("a/b/", 3), None);
        assert!(matches("h1/1", &pat(0, "h1")));
        assert!(!matches("h1/1", &pat(1, "h1")));
        assert!(!matches("/1", &pat(0, "")), "an empty pattern never matches");
    }

    #[test]
    fn without_active_conditions_the_last_tag_decides() {
        let mut s = state(&["h1", "h2"], &[]);
        assert_eq!(s.move_out(&[pat(0, "zz")]), MoveOutcome::Untouched);
        assert_eq!(s.move_out(&[pat(0, "h1")]), MoveOutcome::Kept);
        assert_eq!(s.tags, vec!["h2"]);
        assert_eq!(s.move_out(&[pat(0, "h2")]), MoveOutcome::Gone);
    }

    #[test]
    fn with_active_conditions_a_row_survives_through_another_disjunct() {
        // (a IN sub1) OR (b IN sub2): positions 0 and 1, one disjunct each.
        let mut s = state(&["h1/", "/h2"], &[true, true]);
        assert_eq!(s.move_out(&[pat(0, "h1")]), MoveOutcome::Kept);
        assert_eq!(s.active_conditions, vec![false, true]);
        s.move_in(&[pat(0, "h1")]);
        assert_eq!(s.active_conditions, vec![true, true]);
        assert_eq!(s.move_out(&[pat(0, "h1")]), MoveOutcome::Kept);
        assert_eq!(s.move_out(&[pat(1, "h2")]), MoveOutcome::Gone);
    }

    #[test]
    fn a_conjunction_goes_when_any_position_fails() {
        // x = 1 AND a IN sub: position 0 is the plain condition, 1 the subquery.
        let mut s = state(&["1/h9"], &[true, true]);
        assert_eq!(s.move_out(&[pat(1, "h9")]), MoveOutcome::Gone);
        // Out-of-range positions are ignored, never a panic.
        let mut s = state(&["1/h9"], &[true]);
        assert_eq!(s.move_out(&[pat(1, "h9")]), MoveOutcome::Untouched);
        assert!(s.is_visible());
    }

    #[test]
    fn update_headers_merge_tags() {
        let mut st = Some(Box::new(state(&["a", "b"], &[true])));
        let h = ChangeHeaders {
            tags: vec!["c".into(), "a".into()],
            removed_tags: vec!["b".into()],
            active_conditions: vec![false],
            ..ChangeHeaders::default()
        };
        TagState::update(&mut st, &h);
        assert_eq!(st.as_deref(), Some(&state(&["a", "c"], &[false])));
        let mut none = None;
        TagState::update(&mut none, &ChangeHeaders::default());
        assert!(none.is_none());
        assert!(TagState::from_headers(&ChangeHeaders::default()).is_none());
    }
}
