//! The key table drives everything: each row is commented in the template,
//! read by the reader, and its default survives the template's line.
//! (`timed/tests/config.rs` tests the file format as users see it.)

use std::path::Path;

use consensus::CoreConfig;
use net::NetLimits;

use super::keys::{ROWS, Shown, TABLE_DOCS};
use super::template::{shown, split};
use super::{ACCEPTED_KEYS, Config};

const BASE: &str = "/cfg";

fn parse(text: &str) -> Result<Config, super::ConfigErrors> {
    Config::from_toml_str(text, Path::new(BASE))
}

fn defaults() -> Config {
    let mut config = Config::default();
    config.resolve_paths(Path::new(BASE));
    config
}

/// A file setting only `key` (a row's key) to `value`.
fn file_with(key: &str, value: &str) -> String {
    let (table, name) = split(key);
    match table.strip_suffix("[]") {
        Some(array) => format!("[[{array}]]\n{name} = {value}\n"),
        None => format!("[{table}]\n{name} = {value}\n"),
    }
}

#[test]
fn no_key_has_two_rows() {
    for (i, key) in ACCEPTED_KEYS.iter().enumerate() {
        assert!(!ACCEPTED_KEYS[..i].contains(key), "{key} has two rows");
    }
}

#[test]
fn every_row_has_a_template_comment() {
    for row in ROWS {
        let (table, _) = split(row.key);
        let table_doc = TABLE_DOCS.iter().any(|(t, doc)| *t == table && !doc.is_empty());
        // In an array of tables, the table's comment describes its keys.
        let commented = !row.doc.trim().is_empty() || (table.ends_with("[]") && table_doc);
        assert!(commented, "{} has no comment for the template", row.key);
    }
    let template = Config::default_toml();
    assert!(!template.contains('{'), "a comment placeholder is left:\n{template}");
}

#[test]
fn the_rows_of_a_table_are_together() {
    // Otherwise the template would open a table twice.
    let mut seen: Vec<&str> = Vec::new();
    for row in ROWS {
        let (table, _) = split(row.key);
        if seen.last() != Some(&table) {
            assert!(!seen.contains(&table), "{} is apart from the rest of [{table}]", row.key);
            seen.push(table);
        }
    }
}

#[test]
fn every_row_is_read() {
    // A table is the wrong type for every key: each row's reader must
    // report it, under the row's key.
    for row in ROWS {
        let text = file_with(row.key, "{}");
        let shown_key = row.key.replace("[]", "[0]");
        let problems = match parse(&text) {
            Ok(_) => panic!("{} is not read:\n{text}", row.key),
            Err(errors) => errors.problems,
        };
        assert!(
            problems.iter().any(|p| p.key.as_deref() == Some(&shown_key)),
            "{} is not read: {problems:#?}",
            row.key
        );
    }
}

#[test]
fn every_default_survives_its_template_line() {
    for row in ROWS {
        match shown(row, &mut Config::default()) {
            Shown::Set(value) => {
                let text = file_with(row.key, &value);
                let parsed = parse(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", row.key));
                assert_eq!(
                    parsed,
                    defaults(),
                    "{}: the template's value is not the default",
                    row.key
                );
            }
            // No default: the template shows an example, commented out.
            Shown::Unset(_) => {}
        }
    }
}

#[test]
fn defaults_that_mirror_a_layer_are_that_layers_own() {
    let config = Config::default();
    // Through the config and back, nothing is lost or changed.
    assert_eq!(format!("{:?}", config.core_config()), format!("{:?}", CoreConfig::default()));
    // Only the connection limits are timed's own.
    let expected = NetLimits {
        max_connections: config.network.max_connections,
        max_per_ip: config.network.max_connections_per_ip,
        ..NetLimits::default()
    };
    assert_eq!(config.net_limits(), expected);
    let store = crate::store::StoreConfig::default();
    assert_eq!(config.storage.cache_bytes >> 20, store.cache_size_mb);
    assert_eq!(config.storage.min_free_mb, store.min_free_mb);
}
