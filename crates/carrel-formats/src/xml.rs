//! A small, bounded XML tree for the documents of a book (OPF, NCX, nav,
//! container, ComicInfo, XMP): quick-xml's event stream built into elements,
//! with depth and node count capped. Names are kept without their namespace
//! prefix. A document that breaks off (malformed, cut short) still yields the
//! tree read so far, with the error beside it.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::text::{decode_xml_bytes, resolve_entity};

const MAX_DEPTH: usize = 256;
const MAX_NODES: usize = 1_000_000;

#[derive(Debug, Default)]
pub(crate) struct Element {
    /// The local name (without prefix).
    pub name: String,
    /// Attributes with their qualified names.
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
}

pub(crate) struct Parsed {
    pub root: Element,
    /// Why parsing stopped early, if it did.
    pub error: Option<String>,
}

pub(crate) fn local(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

impl Element {
    /// The first attribute with this local name (`opf:role` matches `role`).
    pub fn attr(&self, local_name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| local(k) == local_name)
            .map(|(_, v)| v.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// All text inside, concatenated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        // Depth-first, in document order.
        let mut pending: Vec<std::slice::Iter<'_, Node>> = vec![self.children.iter()];
        while let Some(it) = pending.last_mut() {
            match it.next() {
                Some(Node::Text(t)) => out.push_str(t),
                Some(Node::Element(e)) => pending.push(e.children.iter()),
                None => {
                    pending.pop();
                }
            }
        }
        out
    }

    /// The text inside with whitespace collapsed, or `None` when empty.
    pub fn trimmed_text(&self) -> Option<String> {
        let t = crate::text::squash(&self.text());
        (!t.is_empty()).then_some(t)
    }

    /// This element and every element inside it, in document order.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            let kids: Vec<&Element> = e.elements().collect();
            stack.extend(kids.into_iter().rev());
        }
        out
    }

    /// The first element (this one included) with this local name.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.descendants().into_iter().find(|e| e.name == name)
    }
}

/// Parses a document in any encoding (see [`decode_xml_bytes`]).
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    parse_str(&decode_xml_bytes(bytes))
}

pub(crate) fn parse_str(s: &str) -> Result<Parsed, String> {
    let mut reader = Reader::from_str(s);
    reader.config_mut().check_end_names = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;
    let mut error = None;
    loop {
        let event = reader.read_event();
        nodes += 1;
        if nodes > MAX_NODES {
            error = Some("too many XML nodes".to_string());
            break;
        }
        match event {
            Ok(Event::Start(e)) => {
                if stack.len() >= MAX_DEPTH {
                    error = Some(format!("XML nested deeper than {MAX_DEPTH} elements"));
                    break;
                }
                stack.push(element_of(&e));
            }
            Ok(Event::Empty(e)) => attach(&mut stack, &mut root, Node::Element(element_of(&e))),
            Ok(Event::End(e)) => {
                let qname = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let name = local(&qname);
                // Tolerate unclosed elements: close up to the matching one.
                if let Some(pos) = stack.iter().rposition(|el| el.name == name) {
                    while stack.len() > pos {
                        let el = stack.pop().expect("stack is longer than pos");
                        attach(&mut stack, &mut root, Node::Element(el));
                    }
                }
            }
            Ok(Event::Text(t)) => {
                if let Some(parent) = stack.last_mut() {
                    let raw = String::from_utf8_lossy(t.as_ref());
                    let text = t
                        .unescape_with(resolve_entity)
                        .map(|c| c.into_owned())
                        .unwrap_or_else(|_| raw.into_owned());
                    parent.children.push(Node::Text(text));
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(parent) = stack.last_mut() {
                    parent
                        .children
                        .push(Node::Text(String::from_utf8_lossy(t.as_ref()).into_owned()));
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                error = Some(format!(
                    "{} (at byte {})",
                    crate::meta::clip_owned(&e.to_string(), 200),
                    reader.buffer_position()
                ));
                break;
            }
        }
    }
    if error.is_none() && !stack.is_empty() {
        error = Some("the document ends inside an element".into());
    }
    while let Some(el) = stack.pop() {
        attach(&mut stack, &mut root, Node::Element(el));
    }
    match root {
        Some(root) => Ok(Parsed { root, error }),
        None => Err(error.unwrap_or_else(|| "no root element".into())),
    }
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, node: Node) {
    if let Some(parent) = stack.last_mut() {
        parent.children.push(node);
    } else if let Node::Element(el) = node
        && root.is_none()
    {
        *root = Some(el);
    }
}

fn element_of(e: &BytesStart<'_>) -> Element {
    let qname = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let attrs = e
        .attributes()
        .with_checks(false)
        .filter_map(Result::ok)
        .map(|a| {
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a
                .unescape_value_with(resolve_entity)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
            (key, value)
        })
        .collect();
    Element {
        name: local(&qname).to_owned(),
        attrs,
        children: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree() {
        let p = parse(b"<?xml version='1.0'?><a xmlns:x='u'><x:b k='1' x:r='2'>t&amp;<![CDATA[<c>]]></x:b><e/>&nbsp;</a>")
            .unwrap();
        assert!(p.error.is_none());
        let b = p.root.child("b").unwrap();
        assert_eq!((b.attr("k"), b.attr("r")), (Some("1"), Some("2")));
        assert_eq!(b.text(), "t&<c>");
        assert_eq!(p.root.descendants().len(), 3);
        assert_eq!(p.root.text(), "t&<c>\u{a0}");
    }

    #[test]
    fn broken_documents_keep_what_was_read() {
        let p = parse(b"<a><b>one</b><c>two").unwrap();
        assert!(p.error.is_some());
        assert_eq!(p.root.text(), "onetwo");
        let p = parse(b"<a><b>one</c></a>").unwrap();
        assert_eq!(p.root.text(), "one");
        assert!(parse(b"no xml here").is_err());
        assert!(parse(b"").is_err());
        let deep = "<a>".repeat(100_000);
        let p = parse(deep.as_bytes()).unwrap();
        assert!(p.error.unwrap().contains("nested"));
    }
}
