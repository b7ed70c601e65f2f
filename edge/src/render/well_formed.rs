//! Test support: a minimal XML well-formedness check for the documents render writes, so the
//! escaping rules (E59) are tested against structure and not only against expected bytes.

/// A minimal XML well-formedness check, enough for the documents render writes: one root,
/// matched tags, quoted attributes, known entities, comments without `--`.
pub(super) fn assert_well_formed(doc: &str) {
    fn check_text(text: &str, doc: &str) {
        assert!(!text.contains('<'), "raw < in {text:?}\n{doc}");
        let mut rest = text;
        while let Some(i) = rest.find('&') {
            rest = &rest[i..];
            let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
            let entity = known.iter().find(|e| rest.starts_with(**e));
            let entity = entity.unwrap_or_else(|| panic!("bad entity at {rest:?}\n{doc}"));
            rest = &rest[entity.len()..];
        }
    }
    fn is_name(name: &str) -> bool {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.'))
    }

    let mut rest = doc.strip_prefix("<?xml ").expect("XML declaration");
    rest = &rest[rest.find("?>\n").expect("declaration ends") + 3..];
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    loop {
        let Some(open) = rest.find('<') else {
            assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
            break;
        };
        let text = &rest[..open];
        if stack.is_empty() {
            assert!(text.trim().is_empty(), "text outside the root: {text:?}");
        }
        check_text(text, doc);
        rest = &rest[open..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").expect("comment ends");
            let body = &after[..end];
            assert!(
                !body.contains("--") && !body.ends_with('-'),
                "bad comment {body:?}"
            );
            rest = &after[end + 3..];
            continue;
        }
        let close = rest.find('>').expect("tag ends");
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name), "mismatched </{name}>\n{doc}");
            continue;
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(tag) => (tag, true),
            None => (tag, false),
        };
        let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        assert!(is_name(name), "bad element name {name:?}");
        let mut seen = Vec::new();
        while !attrs.trim_start().is_empty() {
            attrs = attrs.trim_start();
            let (attr, value) = attrs
                .split_once("=\"")
                .expect("attribute with a quoted value");
            assert!(is_name(attr), "bad attribute name {attr:?}");
            assert!(!seen.contains(&attr), "duplicate attribute {attr}");
            seen.push(attr);
            let end = value.find('"').expect("attribute value ends");
            check_text(&value[..end], doc);
            attrs = &value[end + 1..];
            assert!(
                attrs.is_empty() || attrs.starts_with(' '),
                "attributes run together"
            );
        }
        if stack.is_empty() {
            roots += 1;
        }
        if !empty {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert_eq!(roots, 1, "one root element");
}

#[test]
fn well_formedness_check_catches_breakage() {
    let broken = [
        "<?xml version=\"1.0\"?>\n<a><b></a></b>\n",
        "<?xml version=\"1.0\"?>\n<a>x & y</a>\n",
        "<?xml version=\"1.0\"?>\n<a><!-- a--b --></a>\n",
        "<?xml version=\"1.0\"?>\n<a x=\"1\" x=\"2\"></a>\n",
        "<?xml version=\"1.0\"?>\n<a></a><b></b>\n",
    ];
    for doc in broken {
        assert!(
            std::panic::catch_unwind(|| assert_well_formed(doc)).is_err(),
            "{doc}"
        );
    }
}
