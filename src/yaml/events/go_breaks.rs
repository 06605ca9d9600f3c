//! Where go-yaml v2 reads a stream differently from this parser (a line
//! break it sees in NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR, or a
//! byte-order mark it counts as indentation), and the parser's messages.

use crate::yaml::spans::go_yaml_differs;

/// A parser error's message, with advice where the parser has none.
pub(super) fn parser_message(info: &str) -> String {
    if info.contains("recursion limit") {
        format!("nesting too deep ({info}); refusing to read it")
    } else {
        info.to_string()
    }
}

/// The [`go_yaml_differs`] characters of a stream and which of them stand
/// inside a quoted scalar. Outside one, go-yaml reads a line break where
/// this parser reads a character (a comment ends early, a key starts a new
/// line, a block or plain scalar ends), or skips a byte-order mark but
/// counts its column: the document would mean something else to
/// Kubernetes than it seems to, so it is refused. (Inside quotes the
/// structure is the same; go-yaml folds a line break into the value, which
/// callers that read such values must refuse themselves.)
pub(super) struct GoBreaks {
    at: Vec<usize>,
    quoted: Vec<bool>,
}

impl GoBreaks {
    pub(super) fn new(text: &str) -> Self {
        let at = go_yaml_differs(text);
        let quoted = vec![false; at.len()];
        GoBreaks { at, quoted }
    }

    /// A quoted scalar spans `start..end`.
    pub(super) fn quoted(&mut self, start: usize, end: usize) {
        if self.at.is_empty() {
            return;
        }
        let from = self.at.partition_point(|&p| p < start);
        let to = self.at.partition_point(|&p| p < end);
        self.quoted[from..to].fill(true);
    }

    /// The first break outside quotes in `start..end`.
    pub(super) fn first_outside(&self, start: usize, end: usize) -> Option<usize> {
        let from = self.at.partition_point(|&p| p < start);
        self.at[from..]
            .iter()
            .zip(&self.quoted[from..])
            .take_while(|(p, _)| **p < end)
            .find(|(_, q)| !**q)
            .map(|(p, _)| *p)
    }
}

/// The message for a go-yaml line break found outside quotes at `pos`.
pub(super) fn go_break_message(text: &str, pos: usize) -> String {
    let c = text[pos..].chars().next().unwrap_or(' ');
    let (name, escape) = match c {
        '\u{85}' => ("NEL, next line", "\\N"),
        '\u{2028}' => ("LINE SEPARATOR", "\\L"),
        '\u{2029}' => ("PARAGRAPH SEPARATOR", "\\P"),
        _ => {
            return "U+FEFF (a byte-order mark) after the start of the stream, outside a quoted \
                    string: Kubernetes reads YAML with go-yaml, which skips it at the start of a \
                    line but counts it as indentation (so `---` after it is no document \
                    marker), so the document would mean something else to Kubernetes than it \
                    shows; remove it (a template file saved with a byte-order mark?)"
                .to_string();
        }
    };
    format!(
        "U+{:04X} ({name}) outside a quoted string: Kubernetes reads YAML with go-yaml, which takes \
         it for a line break (YAML 1.1), so the document would mean something else to Kubernetes \
         than it shows; remove it, or write it as {escape} inside a double-quoted string",
        c as u32
    )
}
