//! Binary fixtures, base64 encoded: the suite checks only that data and MIME type are present,
//! so they are the smallest valid files of their kind.

/// A 2x2 PNG (8-bit RGBA, four blue pixels). Made with Python's `zlib` and `struct`: the PNG
/// signature, an IHDR chunk, one deflated IDAT chunk and IEND, each with its CRC-32.
pub(crate) const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAEUlEQVR42mNQSHjwH4QZYAwATzQJfca7aHIAAAAASUVORK5CYII=";

/// A WAV file: PCM, mono, 8 kHz, 8-bit, 16 samples of silence (RIFF header, `fmt ` and
/// `data` chunks).
pub(crate) const WAV: &str =
    "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YRAAAACAgICAgICAgICAgICAgICA";
