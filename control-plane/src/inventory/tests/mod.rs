//! Tests of the inventory reader and derivation against the example of
//! data-model.md §11.2 and one broken variant of it per row of §11.3.

mod derivation;
mod field_rules;
mod validation;

use super::{Diagnostic, Inventory, parse_inventory};

/// `examples/inventory.json`, the example of data-model.md §11.2.
const EXAMPLE: &str = include_str!("../../../../examples/inventory.json");

/// The example with the one occurrence of `from` replaced by `to`.
fn mutate(from: &str, to: &str) -> String {
    assert_eq!(
        EXAMPLE.matches(from).count(),
        1,
        "{from:?} must occur exactly once in the example"
    );
    EXAMPLE.replacen(from, to, 1)
}

/// Every diagnostic of `text`, formatted, whether or not it parsed.
fn problems(text: &str) -> Vec<String> {
    let list: Vec<Diagnostic> = match parse_inventory("inventory.json", text) {
        Ok((_, warnings)) => warnings,
        Err(problems) => problems,
    };
    list.iter().map(ToString::to_string).collect()
}

/// The example, parsed.
fn example() -> Inventory {
    match parse_inventory("inventory.json", EXAMPLE) {
        Ok((inv, warnings)) => {
            assert!(warnings.is_empty(), "{warnings:?}");
            inv
        }
        Err(problems) => panic!("{problems:#?}"),
    }
}

/// A change to the example and every diagnostic it must give, in order.
struct Row {
    /// The rule it demonstrates.
    name: &'static str,
    /// Text that occurs exactly once in the example...
    from: &'static str,
    /// ...and what replaces it.
    to: &'static str,
    /// Every diagnostic, formatted, in order.
    want: &'static [&'static str],
}

/// Runs every row and reports all mismatches at once.
fn check(rows: &[Row], expect_errors: bool) {
    let mut failures = Vec::new();
    for row in rows {
        let text = mutate(row.from, row.to);
        let got = problems(&text);
        if got != row.want {
            failures.push(format!(
                "{}:\n  want {:#?}\n  got  {:#?}",
                row.name, row.want, got
            ));
        }
        let parsed = parse_inventory("inventory.json", &text);
        if parsed.is_ok() == expect_errors {
            failures.push(format!(
                "{}: parse_inventory gave {}",
                row.name,
                if expect_errors { "Ok" } else { "Err" }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
