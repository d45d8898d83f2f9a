//! A crash-safe store in one file over a synchronous [`BlockDevice`] (the OPFS backend runs it
//! in a dedicated worker on a sync access handle; [`MemDevice`] for tests).
//!
//! OPFS has no transactions, so atomicity comes from the layout:
//!
//! ```text
//! [0, 4096)      meta slot 0      [4096, 8192)  meta slot 1      [8192, ..)  data extents
//! slot:      "EDYB" | u16 version | u16 0 | u64 seq | u64 dir offset | u64 dir length
//!            | u64 checksum64 of the directory | u64 checksum64 of the slot so far
//! directory: "EDYD" | u8 has meta | varint meta length + meta | varint page count
//!            | per page: varint id, varint offset, varint length, u64 checksum64 of the page
//! ```
//!
//! A commit writes its new pages and its directory into space that no extent of the current
//! commit occupies (so the current state stays intact whatever happens), flushes, writes the
//! slot `seq % 2` (the one *not* holding the current commit), flushes again, and finally
//! truncates the file past the new commit's last extent. Opening reads both slots and takes the
//! highest sequence whose slot and directory checksums hold. A crash at any point therefore
//! yields the previous commit or the new one, never a mix; every page is also checksummed in
//! the directory, so a damaged extent is reported as [`StorageError::Corrupt`] rather than
//! returned. After a failed slot write the store re-reads the slots before its next commit
//! (the write may have landed).

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::codec::{checksum64, unseal, Reader, Writer};
use super::storage::{Commit, PageId, Storage, StorageError};

/// A random-access byte device (an OPFS `FileSystemSyncAccessHandle`, a file, memory).
pub trait BlockDevice {
    /// Read up to `buf.len()` bytes at `offset`; returns how many were read (fewer only at the
    /// end of the device).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, StorageError>;
    /// Write all of `data` at `offset`, growing the device if needed.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError>;
    /// Make every write so far durable.
    fn flush(&mut self) -> Result<(), StorageError>;
    /// Current length in bytes (OPFS `getSize()`).
    fn size(&mut self) -> Result<u64, StorageError>;
    /// Cut (or zero-extend) the device to `len` bytes.
    fn truncate(&mut self, len: u64) -> Result<(), StorageError>;
}

/// A device in memory (every write is immediately "durable").
#[derive(Debug, Default, Clone)]
pub struct MemDevice {
    /// The bytes.
    pub data: Vec<u8>,
}

impl BlockDevice for MemDevice {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, StorageError> {
        let start = (offset as usize).min(self.data.len());
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let end = offset as usize + data.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
    fn size(&mut self) -> Result<u64, StorageError> {
        Ok(self.data.len() as u64)
    }
    fn truncate(&mut self, len: u64) -> Result<(), StorageError> {
        self.data.resize(len as usize, 0);
        Ok(())
    }
}

const SLOT_MAGIC: &[u8; 4] = b"EDYB";
const DIR_MAGIC: &[u8; 4] = b"EDYD";
const SLOT_VERSION: u16 = 1;
const SLOT_STRIDE: u64 = 4096;
const SLOT_LEN: usize = 48;
/// First byte of the data area (after the two meta slots).
pub const DATA_START: u64 = 2 * SLOT_STRIDE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Extent {
    off: u64,
    len: u64,
    sum: u64,
}

impl Extent {
    fn end(&self) -> u64 {
        self.off + self.len
    }
}

#[derive(Debug, Default, Clone)]
struct State {
    seq: u64,
    dir: Option<Extent>,
    meta: Option<Vec<u8>>,
    pages: BTreeMap<PageId, Extent>,
}

#[derive(Debug)]
struct Inner<D> {
    dev: D,
    state: State,
    reread: bool,
}

impl<D: BlockDevice> Inner<D> {
    /// Re-read the slots if a failed slot write may have landed.
    fn sync_state(&mut self) -> Result<(), StorageError> {
        if self.reread {
            self.state = read_state(&mut self.dev)?;
            self.reread = false;
        }
        Ok(())
    }
}

/// The single-file store (see the module docs). Methods mirror [`Storage`], synchronously; it
/// also implements [`Storage`] itself.
#[derive(Debug)]
pub struct BlockFileStore<D: BlockDevice> {
    inner: RefCell<Inner<D>>,
}

impl<D: BlockDevice> BlockFileStore<D> {
    /// Open the store on `dev` (an empty device is an empty store).
    pub fn open(mut dev: D) -> Result<Self, StorageError> {
        let state = read_state(&mut dev)?;
        Ok(BlockFileStore {
            inner: RefCell::new(Inner {
                dev,
                state,
                reread: false,
            }),
        })
    }

    /// Give the device back.
    pub fn into_device(self) -> D {
        self.inner.into_inner().dev
    }

    /// Run `f` on the device (tests, diagnostics).
    pub fn with_device<R>(&self, f: impl FnOnce(&mut D) -> R) -> R {
        f(&mut self.inner.borrow_mut().dev)
    }

    /// Sequence of the current commit (0 for a never-committed store).
    pub fn seq(&self) -> u64 {
        self.inner.borrow().state.seq
    }

    /// The meta blob of the current commit.
    pub fn load_meta_sync(&self) -> Result<Option<Vec<u8>>, StorageError> {
        let mut i = self.inner.borrow_mut();
        i.sync_state()?;
        Ok(i.state.meta.clone())
    }

    /// The pages with these ids, in order, each checked against its checksum.
    pub fn load_pages_sync(&self, ids: &[PageId]) -> Result<Vec<Vec<u8>>, StorageError> {
        let mut i = self.inner.borrow_mut();
        i.sync_state()?;
        let Inner { dev, state, .. } = &mut *i;
        ids.iter()
            .map(|id| {
                let e = state
                    .pages
                    .get(id)
                    .ok_or_else(|| StorageError::Corrupt(format!("page {id} is missing")))?;
                let b = read_exact(dev, e.off, e.len as usize)?;
                if checksum64(&b) != e.sum {
                    return Err(StorageError::Corrupt(format!("page {id} checksum mismatch")));
                }
                Ok(b)
            })
            .collect()
    }

    /// Apply a commit atomically (module docs). On error the current state is unchanged.
    pub fn commit_sync(&self, commit: Commit) -> Result<(), StorageError> {
        let mut i = self.inner.borrow_mut();
        let i = &mut *i;
        i.sync_state()?;
        let cur = &i.state;
        let mut occupied: Vec<(u64, u64)> = cur.pages.values().map(|e| (e.off, e.end())).collect();
        occupied.extend(cur.dir.map(|e| (e.off, e.end())));
        occupied.sort_unstable();
        let mut pages = if commit.clear_first {
            BTreeMap::new()
        } else {
            cur.pages.clone()
        };
        for id in &commit.deletes {
            pages.remove(id);
        }
        for (id, bytes) in &commit.puts {
            let off = allocate(&mut occupied, bytes.len() as u64);
            i.dev.write_at(off, bytes)?;
            pages.insert(
                *id,
                Extent {
                    off,
                    len: bytes.len() as u64,
                    sum: checksum64(bytes),
                },
            );
        }
        let meta = if commit.clear_first && commit.meta.is_empty() {
            None
        } else {
            Some(commit.meta)
        };
        let dir_bytes = encode_dir(meta.as_deref(), &pages);
        let dir_off = allocate(&mut occupied, dir_bytes.len() as u64);
        i.dev.write_at(dir_off, &dir_bytes)?;
        let dir = Extent {
            off: dir_off,
            len: dir_bytes.len() as u64,
            sum: checksum64(&dir_bytes),
        };
        i.dev.flush()?;
        let seq = cur.seq + 1;
        let slot = encode_slot(seq, &dir);
        // From here on the new commit may be durable even if a call fails.
        let landed = i
            .dev
            .write_at((seq % 2) * SLOT_STRIDE, &slot)
            .and_then(|()| i.dev.flush());
        if let Err(e) = landed {
            i.reread = true;
            return Err(e);
        }
        let end = pages
            .values()
            .chain([&dir])
            .map(Extent::end)
            .max()
            .unwrap_or(0)
            .max(DATA_START);
        i.state = State {
            seq,
            dir: Some(dir),
            meta,
            pages,
        };
        // The old commit's extents past `end` are garbage now; a failed truncate only wastes space.
        if i.dev.size().is_ok_and(|l| l > end) {
            let _ = i.dev.truncate(end);
        }
        Ok(())
    }

    /// Device length in bytes.
    pub fn bytes_sync(&self) -> Result<u64, StorageError> {
        self.inner.borrow_mut().dev.size()
    }
}

impl<D: BlockDevice> Storage for BlockFileStore<D> {
    async fn load_meta(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.load_meta_sync()
    }
    async fn load_pages(&self, ids: &[PageId]) -> Result<Vec<Vec<u8>>, StorageError> {
        self.load_pages_sync(ids)
    }
    async fn commit(&self, commit: Commit) -> Result<(), StorageError> {
        self.commit_sync(commit)
    }
    async fn bytes(&self) -> Result<u64, StorageError> {
        self.bytes_sync()
    }
}

/// First fit of `len` bytes in the gaps of the sorted `occupied` list (from [`DATA_START`]),
/// else after the last extent; records the new extent.
fn allocate(occupied: &mut Vec<(u64, u64)>, len: u64) -> u64 {
    let mut at = DATA_START;
    let mut pos = occupied.len();
    for (i, &(s, e)) in occupied.iter().enumerate() {
        if s >= at && s - at >= len {
            pos = i;
            break;
        }
        at = at.max(e);
    }
    occupied.insert(pos, (at, at + len));
    at
}

fn read_exact<D: BlockDevice>(dev: &mut D, off: u64, len: usize) -> Result<Vec<u8>, StorageError> {
    let mut buf = vec![0; len];
    let n = dev.read_at(off, &mut buf)?;
    if n != len {
        return Err(StorageError::Corrupt(format!(
            "short read at {off}: {n} of {len} bytes"
        )));
    }
    Ok(buf)
}

fn encode_slot(seq: u64, dir: &Extent) -> Vec<u8> {
    let mut w = Writer::with_capacity(SLOT_LEN);
    w.bytes(SLOT_MAGIC);
    w.u16(SLOT_VERSION);
    w.u16(0);
    w.u64(seq);
    w.u64(dir.off);
    w.u64(dir.len);
    w.u64(dir.sum);
    w.seal()
}

fn decode_slot(bytes: &[u8]) -> Option<(u64, Extent)> {
    let body = unseal(bytes, "slot").ok()?;
    let mut r = Reader::new(body, "slot");
    if r.take(4).ok()? != SLOT_MAGIC || r.u16().ok()? != SLOT_VERSION {
        return None;
    }
    r.u16().ok()?;
    let seq = r.u64().ok()?;
    let dir = Extent {
        off: r.u64().ok()?,
        len: r.u64().ok()?,
        sum: r.u64().ok()?,
    };
    Some((seq, dir))
}

fn encode_dir(meta: Option<&[u8]>, pages: &BTreeMap<PageId, Extent>) -> Vec<u8> {
    let mut w = Writer::with_capacity(32 + meta.map_or(0, <[u8]>::len) + pages.len() * 20);
    w.bytes(DIR_MAGIC);
    match meta {
        None => w.bytes(&[0]),
        Some(m) => {
            w.bytes(&[1]);
            w.varint(m.len() as u64);
            w.bytes(m);
        }
    }
    w.varint(pages.len() as u64);
    for (id, e) in pages {
        w.varint(*id);
        w.varint(e.off);
        w.varint(e.len);
        w.u64(e.sum);
    }
    w.buf
}

/// A decoded directory: the meta blob and the page extents.
type Dir = (Option<Vec<u8>>, BTreeMap<PageId, Extent>);

fn decode_dir(bytes: &[u8]) -> Option<Dir> {
    let mut r = Reader::new(bytes, "directory");
    if r.take(4).ok()? != DIR_MAGIC {
        return None;
    }
    let meta = match r.u8().ok()? {
        0 => None,
        1 => {
            let n = r.len().ok()?;
            Some(r.take(n).ok()?.to_vec())
        }
        _ => return None,
    };
    let n = r.len().ok()?;
    let mut pages = BTreeMap::new();
    for _ in 0..n {
        let id = r.varint().ok()?;
        let e = Extent {
            off: r.varint().ok()?,
            len: r.varint().ok()?,
            sum: r.u64().ok()?,
        };
        pages.insert(id, e);
    }
    r.is_empty().then_some((meta, pages))
}

/// The newest commit whose slot and directory verify; an empty state if none does.
fn read_state<D: BlockDevice>(dev: &mut D) -> Result<State, StorageError> {
    let mut best = State::default();
    for slot in 0..2u64 {
        let mut buf = [0u8; SLOT_LEN];
        let n = dev.read_at(slot * SLOT_STRIDE, &mut buf)?;
        let Some((seq, dir)) = (n == SLOT_LEN).then(|| decode_slot(&buf)).flatten() else {
            continue;
        };
        if seq <= best.seq || seq % 2 != slot {
            continue;
        }
        let Ok(bytes) = read_exact(dev, dir.off, dir.len as usize) else {
            continue;
        };
        if checksum64(&bytes) != dir.sum {
            continue;
        }
        if let Some((meta, pages)) = decode_dir(&bytes) {
            best = State {
                seq,
                dir: Some(dir),
                meta,
                pages,
            };
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(id: PageId, fill: u8, len: usize) -> (PageId, Vec<u8>) {
        (id, vec![fill; len])
    }

    #[test]
    fn commits_survive_reopen_and_space_is_reused_never_over_live_data() {
        let s = BlockFileStore::open(MemDevice::default()).unwrap();
        assert_eq!(s.load_meta_sync().unwrap(), None);
        s.commit_sync(Commit {
            puts: vec![put(1, 1, 100), put(2, 2, 5000)],
            meta: b"m1".to_vec(),
            ..Commit::default()
        })
        .unwrap();
        s.commit_sync(Commit {
            puts: vec![put(3, 3, 50)],
            deletes: vec![1],
            meta: b"m2".to_vec(),
            ..Commit::default()
        })
        .unwrap();
        let s = BlockFileStore::open(s.into_device()).unwrap();
        assert_eq!(s.seq(), 2);
        assert_eq!(s.load_meta_sync().unwrap(), Some(b"m2".to_vec()));
        assert_eq!(
            s.load_pages_sync(&[2, 3]).unwrap(),
            vec![vec![2; 5000], vec![3; 50]]
        );
        assert!(matches!(s.load_pages_sync(&[1]), Err(StorageError::Corrupt(_))));
        // Many commits keep the file bounded: freed extents are reused.
        for k in 0..200u64 {
            s.commit_sync(Commit {
                puts: vec![put(10 + k, k as u8, 300)],
                deletes: vec![9 + k],
                meta: vec![k as u8; 10],
                ..Commit::default()
            })
            .unwrap();
        }
        assert!(
            s.bytes_sync().unwrap() < DATA_START + 8000,
            "{}",
            s.bytes_sync().unwrap()
        );
        assert_eq!(
            s.load_pages_sync(&[2, 209]).unwrap(),
            vec![vec![2; 5000], vec![199; 300]]
        );
    }

    #[test]
    fn clear_with_empty_meta_empties_and_a_flipped_page_byte_is_corrupt() {
        let s = BlockFileStore::open(MemDevice::default()).unwrap();
        s.commit_sync(Commit {
            puts: vec![put(1, 7, 64)],
            meta: b"m".to_vec(),
            ..Commit::default()
        })
        .unwrap();
        let off = s.inner.borrow().state.pages[&1].off as usize;
        s.with_device(|d| d.data[off + 3] ^= 1);
        assert!(matches!(s.load_pages_sync(&[1]), Err(StorageError::Corrupt(_))));
        s.commit_sync(Commit {
            clear_first: true,
            ..Commit::default()
        })
        .unwrap();
        let s = BlockFileStore::open(s.into_device()).unwrap();
        assert_eq!(s.load_meta_sync().unwrap(), None);
        assert!(s.load_pages_sync(&[1]).is_err());
    }

    #[test]
    fn allocate_is_first_fit_after_the_slots() {
        let mut occ = vec![(DATA_START, DATA_START + 10), (DATA_START + 30, DATA_START + 40)];
        assert_eq!(allocate(&mut occ, 20), DATA_START + 10);
        assert_eq!(allocate(&mut occ, 1), DATA_START + 40);
        assert_eq!(occ.len(), 4);
        let mut empty = Vec::new();
        assert_eq!(allocate(&mut empty, 5), DATA_START);
    }
}
