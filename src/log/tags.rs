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
    /// `active_conditions` when the update carries them. A state left with neither tags nor
    /// `active_conditions` becomes `None`.
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
        if s.tags.is_empty() && s.active_conditions.is_empty() {
            // Behaves exactly like no tag state, and is stored (snapshot, pages) as none.
            *state = None;
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
    /// row goes when none is left. `before` sees the state just before the first real change
    /// (at most once; never when nothing changes), so a caller can record the old state
    /// without cloning it for every row.
    pub(crate) fn move_out(
        &mut self,
        patterns: &[MovePattern],
        before: impl FnOnce(&TagState),
    ) -> MoveOutcome {
        let mut before = Some(before);
        let mut touched = false;
        if self.active_conditions.is_empty() {
            let mut i = 0;
            while i < self.tags.len() {
                if patterns.iter().any(|p| matches(&self.tags[i], p)) {
                    if let Some(f) = before.take() {
                        f(self);
                    }
                    self.tags.remove(i);
                    touched = true;
                } else {
                    i += 1;
                }
            }
            if touched && self.tags.is_empty() {
                return MoveOutcome::Gone;
            }
        } else {
            for p in patterns {
                let Some(i) = self.position_matched_by(p) else {
                    continue;
                };
                touched = true;
                if self.active_conditions[i] {
                    if let Some(f) = before.take() {
                        f(self);
                    }
                    self.active_conditions[i] = false;
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
    /// as inserts, so nothing is created here. `before` as for [`TagState::move_out`].
    pub(crate) fn move_in(&mut self, patterns: &[MovePattern], before: impl FnOnce(&TagState)) {
        let mut before = Some(before);
        for p in patterns {
            if let Some(i) = self.position_matched_by(p) {
                if !self.active_conditions[i] {
                    if let Some(f) = before.take() {
                        f(self);
                    }
                    self.active_conditions[i] = true;
                }
            }
        }
    }

    /// The `active_conditions` index of `p`'s position when some tag matches `p` (`None` when
    /// nothing matches or the position is out of range).
    fn position_matched_by(&self, p: &MovePattern) -> Option<usize> {
        let i = usize::try_from(p.pos).ok()?;
        (i < self.active_conditions.len() && self.tags.iter().any(|t| matches(t, p))).then_some(i)
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
        assert_eq!(s.move_out(&[pat(0, "zz")], |_| {}), MoveOutcome::Untouched);
        assert_eq!(s.move_out(&[pat(0, "h1")], |_| {}), MoveOutcome::Kept);
        assert_eq!(s.tags, vec!["h2"]);
        assert_eq!(s.move_out(&[pat(0, "h2")], |_| {}), MoveOutcome::Gone);
    }

    #[test]
    fn with_active_conditions_a_row_survives_through_another_disjunct() {
        // (a IN sub1) OR (b IN sub2): positions 0 and 1, one disjunct each.
        let mut s = state(&["h1/", "/h2"], &[true, true]);
        assert_eq!(s.move_out(&[pat(0, "h1")], |_| {}), MoveOutcome::Kept);
        assert_eq!(s.active_conditions, vec![false, true]);
        s.move_in(&[pat(0, "h1")], |_| {});
        assert_eq!(s.active_conditions, vec![true, true]);
        assert_eq!(s.move_out(&[pat(0, "h1")], |_| {}), MoveOutcome::Kept);
        assert_eq!(s.move_out(&[pat(1, "h2")], |_| {}), MoveOutcome::Gone);
    }

    #[test]
    fn a_conjunction_goes_when_any_position_fails() {
        // x = 1 AND a IN sub: position 0 is the plain condition, 1 the subquery.
        let mut s = state(&["1/h9"], &[true, true]);
        assert_eq!(s.move_out(&[pat(1, "h9")], |_| {}), MoveOutcome::Gone);
        // Out-of-range positions are ignored, never a panic.
        let mut s = state(&["1/h9"], &[true]);
        assert_eq!(s.move_out(&[pat(1, "h9")], |_| {}), MoveOutcome::Untouched);
        assert!(s.is_visible());
    }

    #[test]
    fn before_hook_sees_the_old_state_once_and_only_on_a_real_change() {
        let mut seen = Vec::new();
        let mut s = state(&["h1/", "/h2"], &[true, true]);
        s.move_out(&[pat(0, "h1"), pat(1, "h2"), pat(1, "h2")], |old| {
            seen.push(old.clone())
        });
        assert_eq!(seen, vec![state(&["h1/", "/h2"], &[true, true])]);
        // Already inactive: matched but unchanged, so no hook.
        let mut s = state(&["h1/"], &[false]);
        s.move_out(&[pat(0, "h1")], |_| panic!("nothing changed"));
        s.move_in(&[pat(0, "zz")], |_| panic!("nothing matched"));
        let mut seen = Vec::new();
        s.move_in(&[pat(0, "h1")], |old| seen.push(old.clone()));
        assert_eq!(seen, vec![state(&["h1/"], &[false])]);
        assert_eq!(s.active_conditions, vec![true]);
        // Without active_conditions a move-in changes nothing; a move-out drops tags.
        let mut s = state(&["a", "b", "a2"], &[]);
        s.move_in(&[pat(0, "a")], |_| panic!("no flags to set"));
        let mut seen = Vec::new();
        s.move_out(&[pat(0, "a"), pat(0, "a2")], |old| seen.push(old.clone()));
        assert_eq!(seen, vec![state(&["a", "b", "a2"], &[])]);
        assert_eq!(s.tags, vec!["b"]);
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
        let only_removed = ChangeHeaders {
            removed_tags: vec!["a".into(), "c".into()],
            ..ChangeHeaders::default()
        };
        TagState::update(&mut none, &only_removed);
        assert!(none.is_none(), "removing from nothing creates no state");
        let mut st = Some(Box::new(state(&["a", "c"], &[])));
        TagState::update(&mut st, &only_removed);
        assert!(st.is_none(), "an emptied state is no state");
        assert!(TagState::from_headers(&ChangeHeaders::default()).is_none());
    }
}
