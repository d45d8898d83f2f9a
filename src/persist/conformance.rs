//! The [`Storage`] contract as an executable check, so every backend (memory, block file,
//! IndexedDB, OPFS, a custom JS object) is held to the same rules: [`conformance`] drives a
//! store through a fixed script of commits and reads and reports the first deviation.
//!
//! Rules checked: an empty store has no meta; a missing page is [`StorageError::Corrupt`];
//! `load_pages` answers in request order; a commit's deletes apply before its puts; puts may
//! replace; `clear_first` removes every page and the meta first; `clear_first` with an empty
//! meta leaves an empty store (no meta); zero-length and 1 MiB pages round-trip; `bytes`
//! answers. Atomicity under crashes is not observable from here (see the kill-loop tests).

use super::storage::{Commit, PageId, Storage, StorageError};
use crate::error::ErrorCode;

/// A backend broke the [`Storage`] contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage contract broken at step `{step}`: {detail}")]
pub struct ConformanceError {
    /// The script step.
    pub step: &'static str,
    /// What was observed instead.
    pub detail: String,
}

impl ErrorCode for ConformanceError {
    fn code(&self) -> &'static str {
        "EDDY_PERSIST_CONFORMANCE"
    }
    fn family(&self) -> &'static str {
        "StorageError"
    }
}

fn fail(step: &'static str, detail: impl Into<String>) -> ConformanceError {
    ConformanceError {
        step,
        detail: detail.into(),
    }
}

fn page(id: PageId, len: usize) -> (PageId, Vec<u8>) {
    (id, (0..len).map(|i| (i as u64 * 31 + id) as u8).collect())
}

async fn expect_meta<S: Storage>(
    s: &S,
    step: &'static str,
    want: Option<&[u8]>,
) -> Result<(), ConformanceError> {
    let got = s.load_meta().await.map_err(|e| fail(step, e.to_string()))?;
    if got.as_deref() != want {
        return Err(fail(
            step,
            format!(
                "meta {:?}, expected {:?}",
                got.map(|m| m.len()),
                want.map(<[u8]>::len)
            ),
        ));
    }
    Ok(())
}

async fn expect_pages<S: Storage>(
    s: &S,
    step: &'static str,
    want: &[(PageId, Vec<u8>)],
) -> Result<(), ConformanceError> {
    let ids: Vec<PageId> = want.iter().map(|(id, _)| *id).collect();
    let got = s.load_pages(&ids).await.map_err(|e| fail(step, e.to_string()))?;
    if got.len() != want.len() {
        return Err(fail(step, format!("{} pages for {} ids", got.len(), want.len())));
    }
    for ((id, w), g) in want.iter().zip(&got) {
        if w != g {
            return Err(fail(
                step,
                format!("page {id}: {} bytes differ from {} stored", g.len(), w.len()),
            ));
        }
    }
    Ok(())
}

async fn expect_missing<S: Storage>(s: &S, step: &'static str, id: PageId) -> Result<(), ConformanceError> {
    match s.load_pages(&[id]).await {
        Err(StorageError::Corrupt(_)) => Ok(()),
        other => Err(fail(
            step,
            format!("page {id}: expected Corrupt (missing), got {other:?}"),
        )),
    }
}

async fn commit<S: Storage>(s: &S, step: &'static str, c: Commit) -> Result<(), ConformanceError> {
    s.commit(c).await.map_err(|e| fail(step, e.to_string()))
}

/// Run the contract script on `s`, which must be empty (or clearable: it is cleared first).
/// Leaves the store empty.
pub async fn conformance<S: Storage>(s: &S) -> Result<(), ConformanceError> {
    s.clear().await.map_err(|e| fail("clear first", e.to_string()))?;
    expect_meta(s, "empty store", None).await?;
    expect_pages(s, "no pages requested", &[]).await?;
    expect_missing(s, "missing page in an empty store", 1).await?;

    let (p1, p2, p3) = (page(1, 100), page(2, 0), page(3, 70_000));
    commit(
        s,
        "first commit",
        Commit {
            puts: vec![p1.clone(), p2.clone(), p3.clone()],
            meta: b"m1".to_vec(),
            ..Commit::default()
        },
    )
    .await?;
    expect_meta(s, "first commit", Some(b"m1")).await?;
    expect_pages(s, "pages in request order", &[p3.clone(), p1.clone(), p2.clone()]).await?;

    let p4 = page(4, 5);
    let p3b = page(3, 10);
    commit(
        s,
        "delete, put and replace",
        Commit {
            deletes: vec![1, 3],
            puts: vec![p4.clone(), p3b.clone()],
            meta: b"m2".to_vec(),
            ..Commit::default()
        },
    )
    .await?;
    expect_meta(s, "delete, put and replace", Some(b"m2")).await?;
    expect_missing(s, "deleted page", 1).await?;
    expect_pages(s, "deletes apply before puts", &[p2.clone(), p3b, p4.clone()]).await?;
    if s.bytes().await.map_err(|e| fail("bytes", e.to_string()))? == 0 {
        return Err(fail("bytes", "0 bytes for a store holding pages"));
    }

    let big = page(5, 1 << 20);
    commit(
        s,
        "clear_first with data",
        Commit {
            clear_first: true,
            puts: vec![big.clone()],
            meta: b"m3".to_vec(),
            ..Commit::default()
        },
    )
    .await?;
    expect_meta(s, "clear_first with data", Some(b"m3")).await?;
    for id in [2, 3, 4] {
        expect_missing(s, "cleared page", id).await?;
    }
    expect_pages(s, "1 MiB page", &[big]).await?;

    commit(
        s,
        "meta-only commit",
        Commit {
            meta: b"m4".to_vec(),
            ..Commit::default()
        },
    )
    .await?;
    expect_meta(s, "meta-only commit", Some(b"m4")).await?;
    expect_pages(s, "meta-only commit keeps pages", &[page(5, 1 << 20)]).await?;

    commit(
        s,
        "wipe",
        Commit {
            clear_first: true,
            ..Commit::default()
        },
    )
    .await?;
    expect_meta(s, "wipe leaves no meta", None).await?;
    expect_missing(s, "wiped page", 5).await?;

    commit(
        s,
        "after wipe",
        Commit {
            puts: vec![p1.clone()],
            meta: b"m5".to_vec(),
            ..Commit::default()
        },
    )
    .await?;
    expect_pages(s, "after wipe", &[p1]).await?;
    s.clear().await.map_err(|e| fail("clear", e.to_string()))?;
    expect_meta(s, "clear leaves no meta", None).await?;
    expect_missing(s, "cleared page", 1).await?;
    Ok(())
}
