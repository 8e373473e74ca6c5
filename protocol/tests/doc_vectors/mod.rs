//! The vectors written in docs/PROTOCOL.md, as the tests that check them
//! read them: a `<!-- vector: NAME -->` marker, then a fenced block.

const DOC: &str = include_str!("../../../docs/PROTOCOL.md");

/// The body of vector `name`'s fenced block in the document.
pub(crate) fn doc_block(name: &str) -> &'static str {
    let marker = format!("<!-- vector: {name} -->");
    let start =
        DOC.find(&marker).unwrap_or_else(|| panic!("docs/PROTOCOL.md has no vector {name}"));
    let rest = &DOC[start + marker.len()..];
    let open = rest.find("```").expect("a fenced block after the marker");
    let body = &rest[open + 3..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    let close = body.find("```").expect("closing fence");
    &body[..close]
}
