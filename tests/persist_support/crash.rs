//! A block device that crashes: unflushed writes are lost or torn at random bytes.

use eddy::persist::{BlockDevice, MemDevice, StorageError};

#[derive(Debug, Clone)]
enum Pending {
    Write(u64, Vec<u8>),
    Truncate(u64),
}

/// Writes land in a volatile view; `flush` makes them durable. At operation `crash_at` the
/// device crashes: every later call fails, and [`CrashDevice::image`] is the durable bytes
/// plus a random fate for each unflushed operation.
#[derive(Debug)]
pub struct CrashDevice {
    durable: Vec<u8>,
    view: Vec<u8>,
    pending: Vec<Pending>,
    /// Device operations (writes, flushes, truncates) so far.
    pub ops: u64,
    crash_at: u64,
    crashed: bool,
    rng: u64,
}

impl CrashDevice {
    /// A device holding `image` that crashes at operation `crash_at` (1-based).
    pub fn new(image: Vec<u8>, crash_at: u64, seed: u64) -> Self {
        CrashDevice {
            durable: image.clone(),
            view: image,
            pending: Vec::new(),
            ops: 0,
            crash_at,
            crashed: false,
            rng: seed | 1,
        }
    }
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
    fn tick(&mut self) -> Result<(), StorageError> {
        if self.crashed {
            return Err(StorageError::Backend("crashed".into()));
        }
        self.ops += 1;
        if self.ops >= self.crash_at {
            self.crashed = true;
            return Err(StorageError::Backend("crashed".into()));
        }
        Ok(())
    }
    /// What survives the crash.
    pub fn image(mut self) -> Vec<u8> {
        let mut img = std::mem::take(&mut self.durable);
        for p in std::mem::take(&mut self.pending) {
            match (self.next() % 3, p) {
                (0, _) => {}
                (1, Pending::Write(off, data)) => write(&mut img, off, &data),
                (_, Pending::Write(off, data)) => {
                    let cut = (self.next() % (data.len() as u64 + 1)) as usize;
                    write(&mut img, off, &data[..cut]);
                }
                (_, Pending::Truncate(len)) => img.resize(len as usize, 0),
            }
        }
        img
    }
}

fn write(buf: &mut Vec<u8>, off: u64, data: &[u8]) {
    let end = off as usize + data.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[off as usize..end].copy_from_slice(data);
}

impl BlockDevice for CrashDevice {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, StorageError> {
        let mut m = MemDevice {
            data: std::mem::take(&mut self.view),
        };
        let n = m.read_at(offset, buf);
        self.view = m.data;
        n
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        if self.tick().is_err() {
            // The crashing write itself may be torn anywhere.
            self.pending.push(Pending::Write(offset, data.to_vec()));
            return Err(StorageError::Backend("crashed".into()));
        }
        write(&mut self.view, offset, data);
        self.pending.push(Pending::Write(offset, data.to_vec()));
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StorageError> {
        self.tick()?;
        self.durable = self.view.clone();
        self.pending.clear();
        Ok(())
    }
    fn size(&mut self) -> Result<u64, StorageError> {
        Ok(self.view.len() as u64)
    }
    fn truncate(&mut self, len: u64) -> Result<(), StorageError> {
        self.tick()?;
        self.view.resize(len as usize, 0);
        self.pending.push(Pending::Truncate(len));
        Ok(())
    }
}
