//! Suanli: a self-hosted GPU compute rental panel.

pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod i18n;
pub mod ops;
pub mod startup;
pub mod web;
