//! Long-running background tasks of the server process.

pub mod status;
