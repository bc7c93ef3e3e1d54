//! placeholder: written by the browser-test work
