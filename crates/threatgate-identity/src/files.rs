//! Private files under the data directory (key material).

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Reads `path`, or creates it with `make()`'s bytes and owner-only permissions (0600) when it
/// does not exist. Creation is atomic (`create_new`), so two processes racing agree on one.
pub fn read_or_create_private_file(path: &Path, make: impl FnOnce() -> Result<Vec<u8>>) -> Result<Vec<u8>> {
    let describe = |e: std::io::Error| Error::KeyFile(format!("{}: {e}", path.display()));
    match fs::read(path) {
        Ok(bytes) => return Ok(bytes),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(describe(e)),
        Err(_) => {}
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(describe)?;
    }
    let bytes = make()?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(describe)?;
            Ok(bytes)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => fs::read(path).map_err(describe),
        Err(e) => Err(describe(e)),
    }
}
