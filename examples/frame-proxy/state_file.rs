//! The active color on disk, so a restart comes back on the color that was serving.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::color::Color;

/// Largest state file read.
const MAX_STATE_BYTES: u64 = 4096;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Persisted {
    active: Color,
}

/// The persisted color, `None` when the file does not exist; an unreadable or malformed file
/// is an error (starting on a guessed color could send traffic to a stopped server).
pub(crate) fn load(path: &Path) -> Result<Option<Color>, String> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
    };
    let mut text = String::new();
    file.take(MAX_STATE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_STATE_BYTES {
        return Err(format!(
            "{} is larger than {MAX_STATE_BYTES} bytes",
            path.display()
        ));
    }
    let persisted: Persisted = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a frame-proxy state file ({e}); fix or delete it",
            path.display()
        )
    })?;
    Ok(Some(persisted.active))
}

/// Writes the color atomically (temporary file, fsync, rename).
pub(crate) fn store(path: &Path, active: Color) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(serde_json::to_string(&Persisted { active })?.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
