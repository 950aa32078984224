//! The two colors a frame server can run as.

use serde::{Deserialize, Serialize};

/// One of the two frame servers behind the proxy (blue on :3710, green on :3711 by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Color {
    /// The frame server usually on :3710.
    Blue,
    /// The frame server usually on :3711.
    Green,
}

impl Color {
    /// Both colors, in index order.
    pub(crate) const ALL: [Color; 2] = [Color::Blue, Color::Green];

    /// The other color (the passive one when `self` is active).
    pub(crate) fn other(self) -> Color {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }

    /// Lower-case name, as sent in the `x-frame-color` response header.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }

    /// Index into per-color arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            Color::Blue => 0,
            Color::Green => 1,
        }
    }
}

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
