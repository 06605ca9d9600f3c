//! The validating pass: every document read once by the one event
//! driver, described by the summary sink ([`super::summary`]) and, for a
//! visitor that reads documents ([`Visit`]), built into a tree that the
//! visitor reads and drops; over pieces of the stream on several threads
//! for large inputs.

use super::document::{DocInfo, Document};
use super::events::{At, DocEnd, Props, Sink, drive};
use super::source::SyntaxError;
use super::spans::LineCounter;
use super::summary::{Keep, SummarySink};
use super::tree::TreeSink;
use saphyr_parser::ScalarStyle;
use std::borrow::Cow;

/// What a scan reads of each document it keeps, in the same pass, while
/// the document's tree exists (one tree at a time on each thread: memory is
/// bounded by the largest document, not by the stream).
pub(crate) trait Visit: Sync {
    /// What is read of one document.
    type Out: Send;
    /// Whether trees are built at all (false: a summary-only scan).
    const TREES: bool = true;
    /// Whether a document of this `kind` (and, once its `metadata` is
    /// read, these `labels`) may be read: when not, its tree is dropped
    /// there (usually within its first lines), and the rest of it only
    /// validated. A document kept after all (its kind was repeated, its
    /// labels come through an alias) is left to be read again later.
    fn wants(&self, kind: &str, labels: Option<&[(String, String)]>) -> bool;
    /// Reads a kept document. `text` is the piece of the stream scanned
    /// (several threads scan pieces): the tree's byte offsets and lines and
    /// `info` are relative to it, and `info.index` counts the piece's
    /// documents only. None leaves the document to be read again later
    /// from the whole stream (say, to report a problem in its own words).
    fn visit(&self, text: &str, doc: &Document<'_>, info: &DocInfo) -> Option<Self::Out>;
    /// Moves what [`Visit::visit`] read to the document's place in the
    /// whole stream: `info` describes it there, `kept` is its index among
    /// the documents kept, and `lines` the lines before its piece.
    fn place(&self, out: &mut Self::Out, info: &DocInfo, kept: usize, lines: usize);
}

/// Reads nothing: a summary-only scan, which builds no trees.
pub(crate) struct NoVisit;

impl Visit for NoVisit {
    type Out = ();
    const TREES: bool = false;
    fn wants(&self, _: &str, _: Option<&[(String, String)]>) -> bool {
        false
    }
    fn visit(&self, _: &str, _: &Document<'_>, _: &DocInfo) -> Option<()> {
        None
    }
    fn place(&self, _: &mut (), _: &DocInfo, _: usize, _: usize) {}
}

/// The sink of a scan: the summary, and when `V` reads documents, their
/// trees, each handed to the visitor when its document ends, then dropped.
struct ScanSink<'t, 'v, V: Visit> {
    summary: SummarySink<'t>,
    tree: TreeSink<'t>,
    visit: &'v V,
    /// What the visitor read, one entry per kept document.
    outs: Vec<Option<V::Out>>,
    /// The current document's tree is being built (not yet dropped for
    /// its kind).
    building: bool,
    /// How far the current document was judged: 0 not yet, 1 by its
    /// kind, 2 by its kind and labels.
    judged: u8,
    /// Gives back a spilled stream's pages behind the documents read.
    behind: crate::pages::Behind<'t>,
}

impl<V: Visit> ScanSink<'_, '_, V> {
    /// Once the summary knows the document's kind, and again once it knows
    /// its labels: stops building the tree of a document the visitor will
    /// not read.
    fn judge(&mut self) {
        if self.judged == 2 || !self.building {
            return;
        }
        let Some(kind) = self.summary.kind() else {
            return;
        };
        let labels = self.summary.labels();
        let now = if labels.is_some() { 2 } else { 1 };
        if now == self.judged {
            return;
        }
        self.judged = now;
        if !self.visit.wants(kind, labels) {
            self.building = false;
            self.tree.abandon();
        }
    }
}

impl<'t, V: Visit> Sink<'t> for ScanSink<'t, '_, V> {
    fn scalar(&mut self, value: Cow<'t, str>, style: ScalarStyle, props: Props, at: At) {
        self.summary.scalar_seen(&value, style, &props, at);
        if V::TREES && self.building {
            self.tree.scalar(value, style, props, at);
            self.judge();
        }
    }
    fn scalar_seen(&mut self, value: &str, style: ScalarStyle, props: &Props, at: At) {
        self.scalar(Cow::Owned(value.to_string()), style, props.clone(), at);
    }
    fn alias(&mut self, id: usize, props: Props, at: At) {
        if V::TREES && self.building {
            self.tree.alias(id, props.clone(), at);
        }
        self.summary.alias(id, props, at);
    }
    fn open(&mut self, map: bool, own_flow: bool, props: Props, at: At) {
        if V::TREES && self.building {
            self.tree.open(map, own_flow, props.clone(), at);
        }
        self.summary.open(map, own_flow, props, at);
    }
    fn close(&mut self, end: usize) {
        self.summary.close(end);
        if V::TREES && self.building {
            self.tree.close(end);
            self.judge();
        }
    }
    fn end_document(&mut self, doc: DocEnd) {
        self.behind.passed(doc.region_end);
        let kept = self.summary.infos.len();
        let built = V::TREES && self.building;
        (self.building, self.judged) = (true, 0);
        if !built {
            self.summary.end_document(doc);
            self.outs.resize_with(self.summary.infos.len(), || None);
            return;
        }
        self.summary.end_document(doc.clone());
        self.tree.end_document(doc);
        let tree = self.tree.docs.pop().expect("the document just ended");
        if let Some(info) = self.summary.infos.get(kept) {
            let out = self.visit.visit(self.summary.text, &tree, info);
            self.outs.push(out);
        }
    }
}

/// Validates the whole stream and describes each document ([`DocInfo`]);
/// builds no trees. Refuses what [`super::parse`] refuses: both run the
/// same driver.
pub fn scan(text: &str) -> Result<Vec<DocInfo>, SyntaxError> {
    scan_piece(text, &|_, _| true, &NoVisit).map(|(s, _)| s.infos)
}

/// What one piece's scan yields: the summary sink (the documents kept,
/// their count, where the last ends) and what the visitor read of each.
type Piece<'t, O> = (SummarySink<'t>, Vec<Option<O>>);

/// [`scan`] keeping what `keep` keeps and reading it with `visit`, with
/// the count of documents read and where the last ends.
fn scan_piece<'t, V: Visit>(
    text: &'t str,
    keep: Keep<'t>,
    visit: &V,
) -> Result<Piece<'t, V::Out>, SyntaxError> {
    let mut sink = ScanSink {
        summary: SummarySink::new(text, keep),
        tree: TreeSink::default(),
        visit,
        outs: Vec::new(),
        building: true,
        judged: 0,
        behind: crate::pages::Behind::new(text.as_bytes()),
    };
    drive(text, &mut sink)?;
    Ok((sink.summary, sink.outs))
}

/// What [`scan_parallel`] returns: the documents kept, and what the
/// visitor read of each (None where it read nothing).
pub(crate) type Scanned<O> = (Vec<DocInfo>, Vec<Option<O>>);

/// [`scan`] over pieces of the stream cut at document markers (`---` at
/// the start of a line), one thread each, stitched back together. Whenever
/// a piece fails or the pieces do not line up exactly, it scans the whole
/// stream again in one pass, so results and errors are always exactly those
/// of [`scan`].
pub(crate) fn scan_parallel<'t, V: Visit>(
    text: &'t str,
    threads: usize,
    keep: Keep<'t>,
    visit: &V,
) -> Result<Scanned<V::Out>, SyntaxError> {
    let whole = || {
        let (s, mut outs) = scan_piece(text, keep, visit)?;
        for (kept, (info, o)) in s.infos.iter().zip(&mut outs).enumerate() {
            if let Some(o) = o {
                visit.place(o, info, kept, 0);
            }
        }
        Ok((s.infos, outs))
    };
    let cuts = cut_points(text, threads);
    if cuts.is_empty() {
        return whole();
    }
    let mut bounds = vec![0];
    bounds.extend(&cuts);
    bounds.push(text.len());
    let pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let results = crate::parallel::map_chunks(&pieces, pieces.len(), |p| {
        let (a, b) = p[0];
        scan_piece(&text[a..b], keep, visit).map(|(s, outs)| (s.infos, outs, s.count, s.last_end))
    });
    let total = results
        .iter()
        .map(|r| r.as_ref().map_or(0, |(d, ..)| d.len()))
        .sum();
    let mut out: Vec<DocInfo> = Vec::with_capacity(total);
    let mut read: Vec<Option<V::Out>> = Vec::with_capacity(total);
    let mut lines = LineCounter::default();
    let mut before = 0; // documents in the pieces before
    for ((a, b), r) in pieces.iter().zip(results) {
        let Ok((docs, outs, count, last_end)) = r else {
            return whole();
        };
        // The piece must end exactly where the next one starts.
        if last_end != Some(b - a) {
            return whole();
        }
        let line_base = lines.lines_before(text, *a);
        for (mut d, mut o) in docs.into_iter().zip(outs) {
            d.region_start += a;
            d.region_end += a;
            d.line_offset += line_base;
            d.index += before;
            if let Some(o) = &mut o {
                visit.place(o, &d, out.len(), line_base);
            }
            out.push(d);
            read.push(o);
        }
        before += count;
    }
    Ok((out, read))
}

/// Up to `threads - 1` offsets of `---` lines that split `text` evenly.
fn cut_points(text: &str, threads: usize) -> Vec<usize> {
    let b = text.as_bytes();
    let mut cuts = Vec::new();
    let mut from = 0;
    for i in 1..threads {
        let target = (text.len() / threads * i).max(from);
        let Some(found) = text[target..]
            .match_indices("\n---")
            .map(|(p, _)| target + p + 1)
            .find(|&p| matches!(b.get(p + 3), None | Some(b' ' | b'\t' | b'\r' | b'\n')))
        else {
            break;
        };
        cuts.push(found);
        from = found + 1;
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_scan_is_the_sequential_scan() {
        let doc = |i: usize| {
            format!(
                "---\n# Source: t/{i}.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  labels: {{type: polyaxon-core}}\nspec: {{a: |\n    text\n}}\n"
            )
        };
        let text: String = (0..200).map(doc).collect::<String>() + "...\n--- x\n";
        let seq = scan(&text).unwrap();
        for threads in [2, 3, 8] {
            // Kept by content: the same documents, numbered as in the stream.
            let some = |t: &str, i: &DocInfo| t[i.region_start..i.region_end].contains("name: p1");
            assert_eq!(
                scan_parallel(&text, threads, &some, &NoVisit).unwrap(),
                scan_parallel(&text, 1, &some, &NoVisit).unwrap(),
                "{threads} threads, some kept"
            );
            let par = scan_parallel(&text, threads, &|_, _| true, &NoVisit)
                .unwrap()
                .0;
            assert_eq!(seq, par, "{threads} threads");
        }
        // Errors are those of the sequential scan.
        let broken = text.replacen("name: p150", "name: [p150", 1);
        assert_eq!(
            scan_parallel(&broken, 4, &|_, _| true, &NoVisit).unwrap_err(),
            scan(&broken).unwrap_err()
        );
    }
}
