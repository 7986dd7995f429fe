//! The interaction diagram, drawn from a run: a Mermaid `sequenceDiagram` of the service,
//! the external writer and the extensions, with the documented interactions numbered as
//! Microsoft numbers them, activation bars for every call, the checker's findings at their
//! events, and each service run in its own band.
//!
//! - The seven documented interactions carry their number: `(1)` FaxExtInitializeConfig
//!   (the five callbacks handed over), `(2)` FaxExtGetData, `(3)` FaxExtRegisterForEvents,
//!   `(4)` FaxExtSetData, `(5)` FaxExtUnregisterForEvents, `(6)` FaxExtFreeBuffer, `(7)` the
//!   extension's ConfigChange callback. Every arrow ends with its event index (`[9]`); a
//!   reply names the call it answers (`reply to [8]`).
//! - Every call opens an activation bar on the callee and its return closes it, so nesting
//!   shows; calls that never return (a crash, a hang, a trace that ends or a window that
//!   closes mid-call) are closed explicitly, so the diagram always balances.
//! - Findings ([`Marks`]) are red (errors) or orange (warnings) notes at their event;
//!   injected failures, damage and cut deliveries each have their own colour and word.
//! - The size stays under Mermaid's default `maxTextSize` (50,000 characters): repeated
//!   rounds are folded into a `loop` that draws the first round and counts the rest, and
//!   past the budget the diagram stops with a note of what was left out and the command
//!   that draws it. A [`Window`] draws a part of the trace.
//!
//! The writer holds what it draws (at most the budget) and a few rounds of lookahead,
//! never the trace.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{self, Write};

use crate::event::*;
use crate::header::Header;
use crate::marks::{Mark, MarkLevel, Marks, Window};
use crate::render::{bool_name, redact_payload};
use crate::text::{enable_name, hresult_name, source_name, win32_name};

/// Mermaid's default `maxTextSize`: a longer diagram renders only an error.
pub const MERMAID_MAX_TEXT_SIZE: usize = 50_000;

/// How rounds repeat: at most this many top-level calls in one round.
const MAX_PERIOD: usize = 8;
/// A round repeated this many times in a row is folded.
const MIN_REPEATS: usize = 3;
/// Repeated rounds are drawn as they are until folding them saves this many characters:
/// a few repeats read better drawn; hundreds must fold.
const FOLD_MIN_SAVING: usize = 2_000;
/// Characters kept back for what closes the diagram (open bars, the band, final notes).
const CLOSING_RESERVE: usize = 1_600;
/// Characters kept back per open activation (`    deactivate E12\n`).
const PER_OPEN: usize = 24;
/// Calls open before a window that are drawn as its context, at most.
const MAX_CONTEXT_CALLS: usize = 24;
/// A note's lines are broken at about this many characters.
const NOTE_WIDTH: usize = 64;

/// Fills: findings, injected failures, damage, cut deliveries; service run bands.
const ERROR_FILL: &str = "rgb(255,204,204)";
const WARNING_FILL: &str = "rgb(255,228,181)";
const INJECTED_FILL: &str = "rgb(226,214,255)";
const DAMAGE_FILL: &str = "rgb(255,214,240)";
const CUT_FILL: &str = "rgb(204,226,255)";
const BAND_FILLS: [&str; 2] = ["rgb(245,249,255)", "rgb(250,250,240)"];
const BOX_FILL: &str = "rgb(242,242,242)";

/// The last participant of the diagram, known only once every event is seen: notes that
/// span the diagram are written with this placeholder and fixed at the end.
const LAST: &str = "\u{1}LAST\u{1}";

/// What the diagram draws and how big it may get.
#[derive(Clone, Debug)]
pub struct MermaidOptions {
    /// Payloads as their length and a short digest.
    pub redact: bool,
    /// The part of the trace drawn.
    pub window: Window,
    /// Fold repeated rounds into `loop` blocks.
    pub fold: bool,
    /// The most characters the diagram may have (at most Mermaid's default, 50,000).
    pub max_chars: usize,
    /// The command that draws this trace (`faxsim show run.trace --format mermaid`),
    /// named in the notes on what was left out.
    pub command: Option<String>,
}

impl Default for MermaidOptions {
    fn default() -> Self {
        MermaidOptions {
            redact: false,
            window: Window::all(),
            fold: true,
            max_chars: MERMAID_MAX_TEXT_SIZE,
            command: None,
        }
    }
}

/// A participant of the diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum P {
    /// The external writer.
    W,
    /// The service.
    S,
    /// An extension, by its index.
    E(u16),
}

impl std::fmt::Display for P {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            P::W => f.write_str("W"),
            P::S => f.write_str("S"),
            P::E(x) => write!(f, "E{x}"),
        }
    }
}

/// The number Microsoft's interaction diagram gives a crossing, as a `(n) ` prefix.
fn tag(c: Crossing) -> &'static str {
    match c {
        Crossing::InitializeConfig => "(1) ",
        Crossing::GetData => "(2) ",
        Crossing::Register => "(3) ",
        Crossing::SetData => "(4) ",
        Crossing::Unregister => "(5) ",
        Crossing::FreeBuffer => "(6) ",
        Crossing::ConfigChange => "(7) ",
        _ => "",
    }
}

/// A call drawn and not yet returned.
#[derive(Clone, Debug)]
struct Open {
    seq: u64,
    crossing: Crossing,
    callee: P,
}

/// What drawing an event does to the open calls.
enum Effect {
    None,
    Push(u16, Open),
    /// Returns the call at this index of the thread's stack (and ends those above it).
    Pop(u16, usize),
    /// A crash or hang: every open call ends.
    ClearAll,
}

/// One top-level stretch of the run: from a moment with no call open to the next such
/// moment (a call with everything nested in it, or one observation).
#[derive(Debug, Default)]
struct Unit {
    text: String,
    /// The shape of its events (kinds, extensions, results; not values).
    sig: u64,
    /// False once it holds something that must stay visible (a finding, an injected
    /// failure, a band edge, damage).
    unfoldable: bool,
    first: u64,
    last: u64,
    events: u64,
    /// What it is, for a fold's title (`external write`, `FaxRouteDeviceEnable`).
    label: String,
}

impl Unit {
    fn is_empty(&self) -> bool {
        self.events == 0 && self.text.is_empty()
    }
}

/// Rounds that repeat: the first drawn, the rest counted.
#[derive(Debug)]
struct Fold {
    pattern: Vec<u64>,
    text: String,
    labels: Vec<String>,
    reps: u64,
    first: u64,
    last: u64,
    /// Events in the rounds not drawn.
    folded_events: u64,
    /// The start of a round that may still repeat.
    partial: Vec<Unit>,
    /// The text of the rounds after the first while it is short: drawn after all if
    /// folding would save less than [`FOLD_MIN_SAVING`]; `None` once it is worth it.
    rest: Option<String>,
}

/// FNV-1a, for unit shapes.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn add_u64(&mut self, v: u64) {
        self.add(&v.to_le_bytes());
    }
}

/// Writes the interaction diagram of a run (see the module documentation). Give it
/// every event of the trace in order (it applies the window itself, so it knows what
/// was open when the window begins), then [`MermaidWriter::finish`].
pub struct MermaidWriter<W: Write> {
    out: W,
    opts: MermaidOptions,
    names: Vec<String>,
    kinds: Vec<ExtensionKind>,
    trace: String,
    marks: Marks,
    /// Extensions in the order they were loaded.
    load_order: Vec<u16>,
    loaded: BTreeMap<u16, ExtensionKind>,
    /// Extensions the drawn events name.
    used: BTreeSet<u16>,
    /// Declare every extension of the header (false when the header alone would not fit).
    declare_all: bool,
    /// Calls drawn and open, per thread.
    threads: BTreeMap<u16, Vec<Open>>,
    /// Calls open before the window begins, oldest first (context for the window; the
    /// most recent few of them, whatever the trace holds).
    before: VecDeque<Event>,
    before_count: u64,
    /// The service run in progress before the window.
    run_before: Option<u32>,
    started: bool,
    band_open: bool,
    bands: usize,
    /// The band state when the stretch in progress began.
    unit_bands: (bool, usize),
    cur: Unit,
    pending: VecDeque<Unit>,
    fold: Option<Fold>,
    body: String,
    header_len: usize,
    /// The first event left out to stay under the size limit.
    cut: Option<u64>,
    after_cut: u64,
    cut_marks: Vec<String>,
    cut_marks_total: usize,
    after_window: u64,
    last_seq: Option<u64>,
    drawn: u64,
    folded_events: u64,
}

impl<W: Write> std::fmt::Debug for MermaidWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MermaidWriter").finish_non_exhaustive()
    }
}

/// Escapes text for a Mermaid message or note (`;` ends a statement, `#` starts an
/// entity, `<>` would be HTML, `%%` a comment) and keeps it to one line.
pub(crate) fn mm(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ';' => s.push_str("#59;"),
            '#' => s.push_str("#35;"),
            '<' => s.push_str("#60;"),
            '>' => s.push_str("#62;"),
            '%' => s.push_str("#37;"),
            '\u{1}' => {}
            c if c.is_control() => s.push(' '),
            c => s.push(c),
        }
    }
    s
}

/// Text for a `%%` comment line (one line, no directive).
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() || c == '{' { ' ' } else { c })
        .collect()
}

/// A note's text: broken into lines of about [`NOTE_WIDTH`] characters at spaces, each
/// escaped, joined with `<br/>`.
fn note_text(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > NOTE_WIDTH {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
        .iter()
        .map(|l| mm(l))
        .collect::<Vec<_>>()
        .join("<br/>")
}

/// A GUID string shortened to its first group (`{0A9D7B3A…}`); other text is cut at 40
/// characters.
fn short_guid(g: &GuidArg) -> String {
    match g {
        None => "NULL".into(),
        Some(g) if g.len() == 38 && g.starts_with('{') && g.is_char_boundary(9) => {
            format!("{}…}}", &g[..9])
        }
        Some(g) if g.chars().count() > 40 => format!("{}…", g.chars().take(40).collect::<String>()),
        Some(g) => g.to_string(),
    }
}

/// A payload collapsed to 8 bytes of hex (or redacted).
fn short_payload(d: Option<&[u8]>, redact: bool) -> String {
    match d {
        None => "NULL".into(),
        Some(d) if redact => redact_payload(d),
        Some([]) => "empty".into(),
        Some(d) if d.len() > 8 => format!("{}…({} bytes)", crate::to_hex(&d[..8]), d.len()),
        Some(d) => crate::to_hex(d),
    }
}

fn kind_words(kind: ExtensionKind, n: usize) -> &'static str {
    match (kind, n) {
        (ExtensionKind::Fsp, 1) => "FSP",
        (ExtensionKind::Fsp, _) => "FSPs",
        (ExtensionKind::VirtualFsp, 1) => "virtual FSP",
        (ExtensionKind::VirtualFsp, _) => "virtual FSPs",
        (ExtensionKind::Routing, 1) => "routing extension",
        (ExtensionKind::Routing, _) => "routing extensions",
    }
}

/// The text of a GetData buffer, a handle and the like: one spelling everywhere.
fn buffer_arg(b: &BufferArg) -> String {
    match b {
        BufferArg::Null => "NULL".into(),
        BufferArg::Buffer(b) => format!("buffer #{}", b.0),
        BufferArg::ChangeData { delivery } => format!("the lpData of [{delivery}]"),
        BufferArg::Foreign(n) => format!("foreign pointer #{}", n.0),
    }
}

fn handle_arg(h: &HandleArg) -> String {
    match h {
        HandleArg::Null => "NULL".into(),
        HandleArg::InvalidValue => "INVALID_HANDLE_VALUE".into(),
        HandleArg::Handle(h) => format!("handle #{}", h.0),
        HandleArg::Foreign(n) => format!("foreign handle #{}", n.0),
    }
}

fn injected_word(injected: bool) -> &'static str {
    if injected { " (injected)" } else { "" }
}

/// The shape of an event for folding: its kind, extension and outcome, not its values.
fn shape(e: &Event, h: &mut Fnv) {
    use EventKind::*;
    h.add(e.kind.name().as_bytes());
    h.add_u64(e.ext.map_or(u64::MAX, |x| u64::from(x.0)));
    let outcome: i64 = match &e.kind {
        InitializeConfigReturn { hr }
        | DevShutdownReturn { hr }
        | ConfigChangeReturn { hr, .. } => i64::from(*hr),
        DevInitializeReturn { ok }
        | RouteInitializeReturn { ok }
        | RouteDeviceChangeReturn { ok }
        | RouteSetRoutingInfoReturn { ok }
        | VirtualDeviceCreationReturn { ok, .. }
        | RouteGetRoutingInfoReturn { ok, .. } => i64::from(*ok),
        RouteDeviceEnableReturn { result } | EntryPointReturn { result } => i64::from(*result),
        GetDataReturn { code, .. }
        | SetDataReturn { code, .. }
        | UnregisterReturn { code, .. }
        | ExternalWriteReturn { code } => i64::from(*code),
        RegisterReturn { last_error, .. } => i64::from(*last_error),
        RouteFileReturn { code, .. } => i64::from(*code),
        EntryPointCall { function } => function.len() as i64,
        RouteFileCall { routine, .. } => *routine as i64,
        _ => 0,
    };
    h.add(&outcome.to_le_bytes());
}

impl<W: Write> MermaidWriter<W> {
    /// A writer for a trace with this header; `marks` are the findings to show (those
    /// outside the window are dropped).
    pub fn new(out: W, header: &Header, marks: &Marks, opts: MermaidOptions) -> MermaidWriter<W> {
        let mut opts = opts;
        opts.max_chars = opts.max_chars.min(MERMAID_MAX_TEXT_SIZE);
        let names: Vec<String> = header.extensions.iter().map(|e| e.name.clone()).collect();
        let kinds = header.extensions.iter().map(|e| e.kind).collect();
        let mut w = MermaidWriter {
            out,
            marks: marks.within(&opts.window),
            trace: format!("faxsim trace {}, seed {}", header.trace_id, header.seed),
            opts,
            names,
            kinds,
            load_order: Vec::new(),
            loaded: BTreeMap::new(),
            used: BTreeSet::new(),
            declare_all: true,
            threads: BTreeMap::new(),
            before: VecDeque::new(),
            before_count: 0,
            run_before: None,
            started: false,
            band_open: false,
            bands: 0,
            unit_bands: (false, 0),
            cur: Unit::default(),
            pending: VecDeque::new(),
            fold: None,
            body: String::new(),
            header_len: 0,
            cut: None,
            after_cut: 0,
            cut_marks: Vec::new(),
            cut_marks_total: 0,
            after_window: 0,
            last_seq: None,
            drawn: 0,
            folded_events: 0,
        };
        // Room for the participants: every extension of the header when that is
        // reasonable, else only those the drawn events name (each paid for when used).
        let all = w.participants_text(&w.declared());
        if all.len() > w.opts.max_chars / 3 {
            w.declare_all = false;
        }
        w.header_len = w.participants_text(&w.declared()).len() + 200;
        w
    }

    /// The name of extension `x`.
    fn name(&self, x: u16) -> String {
        self.names
            .get(usize::from(x))
            .cloned()
            .unwrap_or_else(|| format!("ext#{x}"))
    }

    fn kind(&self, x: u16) -> Option<ExtensionKind> {
        self.loaded
            .get(&x)
            .copied()
            .or_else(|| self.kinds.get(usize::from(x)).copied())
    }

    /// The extensions declared: loaded ones in load order, then the others the events
    /// name, then (if all are declared) the rest of the header's.
    fn declared(&self) -> Vec<u16> {
        let wanted = |x: u16| match self.opts.window.ext {
            Some(only) => x == only.0 || self.used.contains(&x),
            None => self.declare_all || self.used.contains(&x),
        };
        let mut order: Vec<u16> = Vec::new();
        let mut seen = BTreeSet::new();
        let header = (0..self.names.len()).filter_map(|i| u16::try_from(i).ok());
        for x in self
            .load_order
            .iter()
            .copied()
            .chain(self.used.iter().copied())
            .chain(header)
        {
            if wanted(x) && seen.insert(x) {
                order.push(x);
            }
        }
        order
    }

    /// The diagram's opening: the external writer on the left beside the service, then the
    /// extensions in load order, grouped by kind, each with its kind.
    fn participants_text(&self, order: &[u16]) -> String {
        let mut s = String::from("sequenceDiagram\n");
        s += &format!(
            "    %% {}: {}\n",
            comment(&self.trace),
            comment(&self.opts.window.describe(&self.names))
        );
        s += "    actor W as External writer\n    participant S as Service\n";
        let mut i = 0;
        while i < order.len() {
            let kind = self.kind(order[i]);
            let mut j = i;
            while j < order.len() && self.kind(order[j]) == kind {
                j += 1;
            }
            let group = match kind {
                Some(k) => kind_words(k, j - i),
                None => "extensions",
            };
            s += &format!("    box {BOX_FILL} {group}\n");
            for &x in &order[i..j] {
                let k = self.kind(x).map_or(String::new(), |k| format!(" ({k})"));
                s += &format!("    participant E{x} as {}{k}\n", mm(&self.name(x)));
            }
            s += "    end\n";
            i = j;
        }
        s
    }

    fn ext_p(&self, e: &Event) -> P {
        e.ext.map_or(P::S, |x| P::E(x.0))
    }

    fn open_calls(&self) -> usize {
        self.threads.values().map(Vec::len).sum()
    }

    /// Every open call, innermost (latest) first.
    fn open_innermost_first(&self) -> Vec<Open> {
        let mut all: Vec<Open> = self.threads.values().flatten().cloned().collect();
        all.sort_by_key(|o| std::cmp::Reverse(o.seq));
        all
    }

    fn buffered(&self) -> usize {
        self.pending.iter().map(|u| u.text.len()).sum::<usize>()
            + self.fold.as_ref().map_or(0, |f| {
                f.text.len()
                    + 200
                    + f.rest.as_ref().map_or(0, String::len)
                    + f.partial.iter().map(|u| u.text.len()).sum::<usize>()
            })
            + self.cur.text.len()
    }

    fn fits(&self, cost: usize, opens: usize) -> bool {
        let reserve = CLOSING_RESERVE + PER_OPEN * (self.open_calls() + opens);
        self.header_len + self.body.len() + self.buffered() + cost + reserve <= self.opts.max_chars
    }

    /// Follows one more event of the trace (every event, in order).
    pub fn event(&mut self, e: &Event) -> io::Result<()> {
        self.last_seq = Some(e.seq);
        if let (EventKind::Load { kind, .. }, Some(x)) = (&e.kind, e.ext)
            && !self.loaded.contains_key(&x.0)
        {
            self.loaded.insert(x.0, *kind);
            self.load_order.push(x.0);
        }
        let w = self.opts.window;
        if !w.admits(e) {
            if e.seq < w.from {
                self.before_count += 1;
                self.follow_before(e);
            } else if e.seq > w.to {
                self.after_window += 1;
            }
            return Ok(());
        }
        if self.cut.is_some() {
            self.left_out(e.seq);
            return Ok(());
        }
        if !self.started {
            self.started = true;
            self.start();
        }
        // Drawing opens and closes run bands; an event left out must not.
        let bands = (self.band_open, self.bands);
        let (mut lines, effect) = self.draw(e);
        let marks: Vec<Mark> = self.marks.at(e.seq).to_vec();
        for m in &marks {
            lines.extend(self.mark_lines(m));
        }
        let mut cost: usize = lines.iter().map(|l| l.len() + 5).sum();
        let mut new_participants = Vec::new();
        for x in e
            .ext
            .iter()
            .map(|x| x.0)
            .chain(marks.iter().filter_map(|m| m.ext.map(|x| x.0)))
        {
            if !self.used.contains(&x) {
                new_participants.push(x);
                if !self.declare_all || usize::from(x) >= self.names.len() {
                    cost += 60 + self.name(x).len();
                }
            }
        }
        let opens = usize::from(matches!(effect, Effect::Push(..)));
        if !self.fits(cost, opens) {
            (self.band_open, self.bands) = bands;
            self.cut_at(e.seq);
            return Ok(());
        }
        for x in new_participants {
            if self.used.insert(x) && (!self.declare_all || usize::from(x) >= self.names.len()) {
                self.header_len += 60 + self.name(x).len();
            }
        }
        if self.cur.is_empty() {
            self.cur.first = e.seq;
            self.cur.label = unit_label(e);
            self.unit_bands = (self.band_open, self.bands);
        }
        let mut h = Fnv(self.cur.sig);
        if self.cur.events == 0 {
            h = Fnv::new();
        }
        shape(e, &mut h);
        self.cur.sig = h.0;
        self.cur.last = e.seq;
        self.cur.events += 1;
        if !marks.is_empty() || keeps_visible(e) {
            self.cur.unfoldable = true;
        }
        for l in lines {
            self.cur.text.push_str("    ");
            self.cur.text.push_str(&l);
            self.cur.text.push('\n');
        }
        match effect {
            Effect::None => {}
            Effect::Push(t, o) => self.threads.entry(t).or_default().push(o),
            Effect::Pop(t, i) => {
                if let Some(s) = self.threads.get_mut(&t) {
                    s.truncate(i);
                    if s.is_empty() {
                        self.threads.remove(&t);
                    }
                }
            }
            Effect::ClearAll => self.threads.clear(),
        }
        self.drawn += 1;
        if self.open_calls() == 0 {
            self.end_unit();
        }
        Ok(())
    }

    /// Stops drawing at event `seq`, which does not fit. A small stretch in progress is
    /// left out whole, so the diagram ends after a complete call rather than inside one; a
    /// large one (bigger than a quarter of the budget) is drawn up to here, or a window that
    /// begins with it would draw nothing of it.
    fn cut_at(&mut self, seq: u64) {
        let small = self.cur.events > 0
            && self.cur.label != "context"
            && self.cur.text.len() < self.opts.max_chars / 4;
        if small {
            let unit = std::mem::take(&mut self.cur);
            self.threads.clear();
            (self.band_open, self.bands) = self.unit_bands;
            self.drawn -= unit.events;
            self.cut = Some(unit.first);
            let marks: Vec<u64> = self
                .marks
                .iter()
                .map(|m| m.event)
                .filter(|&m| unit.first <= m && m < seq)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            self.after_cut += unit.events;
            for m in marks {
                self.after_cut -= 1;
                self.left_out(m);
            }
        } else {
            self.cut = Some(seq);
        }
        self.left_out(seq);
    }

    /// Counts an event left out past the size limit (and its marks, for the last note).
    fn left_out(&mut self, seq: u64) {
        self.after_cut += 1;
        for m in self.marks.at(seq) {
            self.cut_marks_total += 1;
            if self.cut_marks.len() < 4 {
                self.cut_marks
                    .push(format!("{} {} [{}]", m.level.name(), m.rule, m.event));
            }
        }
    }

    /// Follows an event before the window: which calls are open, which run is on.
    fn follow_before(&mut self, e: &Event) {
        match &e.kind {
            EventKind::ServiceStart { run } => self.run_before = Some(*run),
            EventKind::ServiceStopped => self.run_before = None,
            EventKind::ExtensionCrashed { .. } | EventKind::ExtensionHung { .. } => {
                self.before.clear()
            }
            _ => {}
        }
        if !self.opts.window.admits_ext(e) {
            return;
        }
        match e.kind.half() {
            Some(Half::Call(_)) => {
                self.before.push_back(e.clone());
                if self.before.len() > MAX_CONTEXT_CALLS {
                    self.before.pop_front();
                }
            }
            Some(Half::Return(c)) => {
                // The innermost open call of the crossing on this thread, and any
                // above it that never returned.
                if let Some(i) = self
                    .before
                    .iter()
                    .rposition(|o| o.thread == e.thread && o.kind.half() == Some(Half::Call(c)))
                {
                    let seq = self.before[i].seq;
                    self.before.retain(|o| o.thread != e.thread || o.seq < seq);
                }
            }
            None => {}
        }
    }

    /// The window's opening: what was left out before it, the run it begins in, and the
    /// calls it begins inside (drawn as they were made, so the nesting shows).
    fn start(&mut self) {
        let mut lines = Vec::new();
        if self.before_count > 0 {
            lines.push(format!(
                "Note over W,{LAST}: {}",
                note_text(&format!(
                    "{} events before [{}] not drawn (the window starts here)",
                    self.before_count, self.opts.window.from
                ))
            ));
        }
        if let Some(run) = self.run_before {
            lines.extend(
                self.band_open_lines(&format!("service run {run} (started before the window)")),
            );
        }
        for e in std::mem::take(&mut self.before) {
            if let Some(x) = e.ext {
                self.used.insert(x.0);
            }
            let (l, effect) = self.draw(&e);
            lines.extend(l);
            if let Effect::Push(t, o) = effect {
                self.threads.entry(t).or_default().push(o);
            }
        }
        if !lines.is_empty() {
            self.cur.unfoldable = true;
            self.cur.label = "context".into();
            for l in lines {
                self.cur.text.push_str("    ");
                self.cur.text.push_str(&l);
                self.cur.text.push('\n');
            }
            if let Some(first) = self.threads.values().flatten().map(|o| o.seq).min() {
                self.cur.first = first;
            }
        }
    }

    fn band_open_lines(&mut self, title: &str) -> Vec<String> {
        let fill = BAND_FILLS[self.bands % 2];
        self.bands += 1;
        let mut lines = Vec::new();
        if self.band_open {
            lines.push("end".to_string());
        }
        self.band_open = true;
        lines.push(format!("rect {fill}"));
        lines.push(format!("Note over W,{LAST}: {}", note_text(title)));
        lines
    }

    /// A finding as a coloured note at its event.
    fn mark_lines(&self, m: &Mark) -> Vec<String> {
        let fill = match m.level {
            MarkLevel::Error => ERROR_FILL,
            MarkLevel::Warning => WARNING_FILL,
        };
        let over = m.ext.map_or(P::S, |x| P::E(x.0));
        vec![
            format!("rect {fill}"),
            format!(
                "Note over {over}: {}",
                note_text(&format!(
                    "{} {}: {} [{}]",
                    m.level.name(),
                    m.rule,
                    m.compact_message(),
                    m.event
                ))
            ),
            "end".into(),
        ]
    }

    /// A call arrow that opens a bar on the callee.
    fn call(&self, e: &Event, from: P, to: P, label: &str) -> (Vec<String>, Effect) {
        let Some(Half::Call(c)) = e.kind.half() else {
            return (Vec::new(), Effect::None);
        };
        let line = format!(
            "{from}->>+{to}: {}",
            mm(&format!("{}{label} [{}]", tag(c), e.seq))
        );
        (
            vec![line],
            Effect::Push(
                e.thread,
                Open {
                    seq: e.seq,
                    crossing: c,
                    callee: to,
                },
            ),
        )
    }

    /// A reply: closes the bar of the call it answers (and of calls above it that never
    /// returned), naming that call.
    fn reply(
        &self,
        e: &Event,
        from: P,
        to: P,
        text: &str,
        injected: bool,
    ) -> (Vec<String>, Effect) {
        let Some(Half::Return(c)) = e.kind.half() else {
            return (Vec::new(), Effect::None);
        };
        let mut lines = Vec::new();
        if injected {
            lines.push(format!("rect {INJECTED_FILL}"));
        }
        let stack = self.threads.get(&e.thread);
        let found = stack.and_then(|s| s.iter().rposition(|o| o.crossing == c));
        let effect = match (stack, found) {
            (Some(s), Some(i)) => {
                for o in s[i + 1..].iter().rev() {
                    lines.push(format!("deactivate {}", o.callee));
                }
                let open = &s[i];
                let label = mm(&format!(
                    "{}reply to [{}]: {text} [{}]",
                    tag(c),
                    open.seq,
                    e.seq
                ));
                if open.callee == from {
                    lines.push(format!("{from}-->>-{to}: {label}"));
                } else {
                    lines.push(format!("{from}-->>{to}: {label}"));
                    lines.push(format!("deactivate {}", open.callee));
                }
                Effect::Pop(e.thread, i)
            }
            _ => {
                lines.push(format!(
                    "{from}-->>{to}: {}",
                    mm(&format!("{}reply: {text} [{}]", tag(c), e.seq))
                ));
                Effect::None
            }
        };
        if injected {
            lines.push("end".into());
        }
        (lines, effect)
    }

    fn note(&self, over: &str, text: &str, fill: Option<&str>) -> Vec<String> {
        let note = format!("Note over {over}: {}", note_text(text));
        match fill {
            Some(f) => vec![format!("rect {f}"), note, "end".into()],
            None => vec![note],
        }
    }

    fn hinst(&self, h: &HInstArg, caller: Option<ExtId>) -> String {
        match h {
            HInstArg::Ext(x) if Some(*x) == caller => String::new(),
            HInstArg::Ext(x) => format!(", hInst of {}", self.name(x.0)),
            HInstArg::Null => ", NULL hInst".into(),
            HInstArg::Foreign(n) => format!(", foreign hInst #{}", n.0),
        }
    }

    /// The statements of one event and what it does to the open calls.
    fn draw(&mut self, e: &Event) -> (Vec<String>, Effect) {
        use EventKind::*;
        let x = self.ext_p(e);
        let n = e.seq;
        let r = self.opts.redact;
        match &e.kind {
            ServiceStart { run } => {
                let lines = self.band_open_lines(&format!("service run {run} starts [{n}]"));
                (lines, Effect::None)
            }
            ServiceStopping => (
                self.note(
                    &format!("W,{LAST}"),
                    &format!("service stopping [{n}]"),
                    None,
                ),
                Effect::None,
            ),
            ServiceStopped => {
                let mut lines = self.note(
                    &format!("W,{LAST}"),
                    &format!("service stopped [{n}]"),
                    None,
                );
                if self.band_open {
                    self.band_open = false;
                    lines.push("end".into());
                }
                (lines, Effect::None)
            }
            DeviceAdded {
                device,
                tapi,
                owner,
            } => {
                let mut t = format!("device {device} added");
                if let Some(t2) = tapi {
                    t += &format!(" (TAPI {t2})");
                }
                if let Some(o) = owner {
                    t += &format!(" by {}", self.name(o.0));
                }
                (self.note("S", &format!("{t} [{n}]"), None), Effect::None)
            }
            DeviceRemoved { device } => (
                self.note("S", &format!("device {device} removed [{n}]"), None),
                Effect::None,
            ),
            ValueCorrupted { device, guid } => (
                self.note(
                    "S",
                    &format!(
                        "injected: the value {} of device {device} is marked corrupt [{n}]",
                        short_guid(&Some(guid.clone()))
                    ),
                    Some(INJECTED_FILL),
                ),
                Effect::None,
            ),
            Load { kind, .. } => (
                self.note(&x.to_string(), &format!("loaded as {kind} [{n}]"), None),
                Effect::None,
            ),
            Unload => (
                self.note(&x.to_string(), &format!("unloaded [{n}]"), None),
                Effect::None,
            ),
            VirtualDeviceCreationCall => self.call(e, P::S, x, "FaxDevVirtualDeviceCreation"),
            VirtualDeviceCreationReturn {
                ok,
                count,
                id_prefix,
                ..
            } => self.reply(
                e,
                x,
                P::S,
                &format!("{}, {count} devices from {id_prefix}", bool_name(*ok)),
                false,
            ),
            InitializeConfigCall => self.call(e, P::S, x, "FaxExtInitializeConfig(5 callbacks)"),
            InitializeConfigReturn { hr } | DevShutdownReturn { hr } => {
                self.reply(e, x, P::S, &hresult_name(*hr), false)
            }
            DevInitializeCall => self.call(e, P::S, x, "FaxDevInitialize"),
            RouteInitializeCall => self.call(e, P::S, x, "FaxRouteInitialize"),
            DevInitializeReturn { ok }
            | RouteInitializeReturn { ok }
            | RouteDeviceChangeReturn { ok }
            | RouteSetRoutingInfoReturn { ok } => self.reply(e, x, P::S, bool_name(*ok), false),
            RouteDeviceChangeCall { device, new_device } => self.call(
                e,
                P::S,
                x,
                &format!(
                    "FaxRouteDeviceChangeNotification(device {device}, {})",
                    if *new_device { "arrived" } else { "removed" }
                ),
            ),
            DevShutdownCall => self.call(e, P::S, x, "FaxDevShutdown"),
            ConfigChangeCall {
                handle,
                device,
                guid,
                data,
                cause,
                ..
            } => self.call(
                e,
                P::S,
                x,
                &format!(
                    "FaxExtConfigChange(handle #{}, device {device}, {}, {}){}",
                    handle.0,
                    short_guid(&Some(guid.clone())),
                    short_payload(Some(data), r),
                    cause.map_or(String::new(), |c| format!(" for write [{c}]"))
                ),
            ),
            ConfigChangeReturn { hr, .. } => self.reply(e, x, P::S, &hresult_name(*hr), false),
            GetDataCall {
                device,
                source,
                guid,
                null_out,
            } => self.call(
                e,
                x,
                P::S,
                &format!(
                    "FaxExtGetData(device {device}, {}, {}{})",
                    source_name(*source),
                    short_guid(guid),
                    if *null_out { ", NULL out-pointer" } else { "" }
                ),
            ),
            GetDataReturn {
                code,
                buffer,
                data,
                injected,
            } => self.reply(
                e,
                P::S,
                x,
                &format!(
                    "{}{}{}",
                    win32_name(*code),
                    buffer.map_or(String::new(), |b| format!(
                        ", buffer #{} = {}",
                        b.0,
                        short_payload(data.as_deref(), r)
                    )),
                    injected_word(*injected)
                ),
                *injected,
            ),
            SetDataCall {
                hinst,
                device,
                source,
                guid,
                data,
                ..
            } => self.call(
                e,
                x,
                P::S,
                &format!(
                    "FaxExtSetData(device {device}, {}, {}, {}{})",
                    source_name(*source),
                    short_guid(guid),
                    short_payload(data.as_deref(), r),
                    self.hinst(hinst, e.ext)
                ),
            ),
            SetDataReturn { code, injected } | UnregisterReturn { code, injected } => self.reply(
                e,
                P::S,
                x,
                &format!("{}{}", win32_name(*code), injected_word(*injected)),
                *injected,
            ),
            RegisterCall {
                hinst,
                device,
                source,
                guid,
                callback,
            } => self.call(
                e,
                x,
                P::S,
                &format!(
                    "FaxExtRegisterForEvents(device {device}, {}, {}, {}{})",
                    source_name(*source),
                    short_guid(guid),
                    callback.map_or("NULL callback".to_string(), |c| format!(
                        "callback #{}",
                        c.0
                    )),
                    self.hinst(hinst, e.ext)
                ),
            ),
            RegisterReturn {
                handle,
                last_error,
                injected,
            } => self.reply(
                e,
                P::S,
                x,
                &format!(
                    "{}{}",
                    match handle {
                        Some(h) => format!("handle #{}", h.0),
                        None => format!("NULL, last error {}", win32_name(*last_error)),
                    },
                    injected_word(*injected)
                ),
                *injected,
            ),
            UnregisterCall { handle } => self.call(
                e,
                x,
                P::S,
                &format!("FaxExtUnregisterForEvents({})", handle_arg(handle)),
            ),
            FreeBufferCall { buffer } => self.call(
                e,
                x,
                P::S,
                &format!("FaxExtFreeBuffer({})", buffer_arg(buffer)),
            ),
            FreeBufferReturn => self.reply(e, P::S, x, "done", false),
            ExternalWriteCall {
                device, guid, data, ..
            } => self.call(
                e,
                P::W,
                P::S,
                &format!(
                    "external write(device {device}, {}, {})",
                    short_guid(guid),
                    short_payload(data.as_deref(), r)
                ),
            ),
            ExternalWriteReturn { code } => self.reply(e, P::S, P::W, &win32_name(*code), false),
            BufferDamaged { buffer, damage } => (
                self.note(
                    &x.to_string(),
                    &match damage {
                        Damage::Overrun { offset } => {
                            format!("damage: buffer #{} overrun at +{offset} [{n}]", buffer.0)
                        }
                        Damage::WriteAfterFree { offset } => format!(
                            "damage: buffer #{} written after it was freed, at +{offset} [{n}]",
                            buffer.0
                        ),
                    },
                    Some(DAMAGE_FILL),
                ),
                Effect::None,
            ),
            ChangeDataWritten { delivery, offset } => (
                self.note(
                    &x.to_string(),
                    &format!("damage: wrote into the lpData of [{delivery}], at +{offset} [{n}]"),
                    Some(DAMAGE_FILL),
                ),
                Effect::None,
            ),
            InputWritten {
                call,
                input,
                offset,
            } => (
                self.note(
                    &x.to_string(),
                    &format!(
                        "damage: wrote into the {} passed at [{call}], at +{offset} [{n}]",
                        input.name()
                    ),
                    Some(DAMAGE_FILL),
                ),
                Effect::None,
            ),
            DeliveryCut {
                depth,
                handle,
                cause,
            } => (
                self.note(
                    "S",
                    &format!(
                        "cut: the delivery to handle #{} for write [{cause}] was not made, depth \
                         {depth} is past the nesting limit [{n}]",
                        handle.0
                    ),
                    Some(CUT_FILL),
                ),
                Effect::None,
            ),
            ExtensionCrashed { detail } => {
                let mut lines = self.note(
                    &x.to_string(),
                    &format!("crashed: {detail} [{n}]"),
                    Some(ERROR_FILL),
                );
                lines.extend(self.close_all());
                (lines, Effect::ClearAll)
            }
            ExtensionHung { limit_ms } => {
                let mut lines = self.note(
                    &x.to_string(),
                    &format!("hung: no progress for {limit_ms} ms [{n}]"),
                    Some(ERROR_FILL),
                );
                lines.extend(self.close_all());
                (lines, Effect::ClearAll)
            }
            RouteDeviceEnableCall {
                guid,
                device,
                enabled,
            } => self.call(
                e,
                P::S,
                x,
                &format!(
                    "FaxRouteDeviceEnable({}, device {device}, {})",
                    short_guid(guid),
                    enable_name(*enabled)
                ),
            ),
            RouteDeviceEnableReturn { result } | EntryPointReturn { result } => {
                self.reply(e, x, P::S, &result.to_string(), false)
            }
            RouteGetRoutingInfoCall {
                guid,
                device,
                buffer,
                size,
            } => self.call(
                e,
                P::S,
                x,
                &format!(
                    "FaxRouteGetRoutingInfo({}, device {device}, {})",
                    short_guid(guid),
                    if *buffer {
                        format!("{size} bytes")
                    } else {
                        "size query".into()
                    }
                ),
            ),
            RouteGetRoutingInfoReturn { ok, size, data } => self.reply(
                e,
                x,
                P::S,
                &format!(
                    "{}, {size} bytes{}",
                    bool_name(*ok),
                    data.as_deref().map_or(String::new(), |d| format!(
                        " = {}",
                        short_payload(Some(d), r)
                    ))
                ),
                false,
            ),
            RouteSetRoutingInfoCall {
                guid, device, data, ..
            } => self.call(
                e,
                P::S,
                x,
                &format!(
                    "FaxRouteSetRoutingInfo({}, device {device}, {})",
                    short_guid(guid),
                    short_payload(data.as_deref(), r)
                ),
            ),
            EntryPointCall { function } => self.call(e, P::S, x, function),
            RoutingStart {
                job,
                device,
                methods,
            } => (
                self.note(
                    "S",
                    &format!(
                        "routing fax job {job} received on device {device} through {} [{n}]",
                        methods
                            .iter()
                            .map(|m| m.function.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None,
                ),
                Effect::None,
            ),
            RoutingEnd { job } => (
                self.note("S", &format!("routing of job {job} over [{n}]"), None),
                Effect::None,
            ),
            RouteFileCall {
                routine,
                job,
                index,
                file,
                guid,
                ..
            } => self.call(
                e,
                x,
                P::S,
                &format!(
                    "{}(job {job}{})",
                    routine.function(),
                    match routine {
                        RouteRoutine::GetFile => format!(", file {index}"),
                        RouteRoutine::AddFile | RouteRoutine::DeleteFile =>
                            format!(", {}", file.as_deref().unwrap_or("NULL")),
                        RouteRoutine::EnumFiles | RouteRoutine::ModifyRoutingData =>
                            format!(", {}", short_guid(guid)),
                    }
                ),
            ),
            RouteFileReturn { result, code, file } => self.reply(
                e,
                P::S,
                x,
                &format!(
                    "{result}{}{}",
                    if *code != 0 {
                        format!(", {}", win32_name(*code))
                    } else {
                        String::new()
                    },
                    file.as_deref().map_or(String::new(), |f| format!(", {f}"))
                ),
                false,
            ),
        }
    }

    /// `deactivate` for every open call, innermost first.
    fn close_all(&self) -> Vec<String> {
        self.open_innermost_first()
            .iter()
            .map(|o| format!("deactivate {}", o.callee))
            .collect()
    }

    /// A top-level stretch is complete: fold it into the repeating rounds, or queue it.
    fn end_unit(&mut self) {
        let unit = std::mem::take(&mut self.cur);
        if unit.is_empty() {
            return;
        }
        if let Some(f) = &mut self.fold {
            if !unit.unfoldable && f.pattern.get(f.partial.len()) == Some(&unit.sig) {
                f.partial.push(unit);
                if f.partial.len() == f.pattern.len() {
                    f.reps += 1;
                    f.folded_events += f.partial.iter().map(|u| u.events).sum::<u64>();
                    f.last = f.partial.last().map_or(f.last, |u| u.last);
                    if let Some(rest) = &mut f.rest {
                        rest.extend(f.partial.iter().map(|u| u.text.as_str()));
                        if rest.len() > FOLD_MIN_SAVING {
                            f.rest = None;
                        }
                    }
                    f.partial.clear();
                }
                return;
            }
            let partial = self.close_fold();
            self.pending.extend(partial);
        }
        self.pending.push_back(unit);
        if self.opts.fold {
            self.try_fold();
        }
        while self.pending.len() > MIN_REPEATS * MAX_PERIOD {
            if let Some(u) = self.pending.pop_front() {
                self.body.push_str(&u.text);
            }
        }
    }

    /// Starts a fold when the last rounds of the queue repeat [`MIN_REPEATS`] times.
    fn try_fold(&mut self) {
        let n = self.pending.len();
        for p in 1..=MAX_PERIOD {
            if n < MIN_REPEATS * p {
                break;
            }
            let tail = n - MIN_REPEATS * p;
            let repeats = (0..p).all(|i| {
                let a = &self.pending[tail + i];
                (0..MIN_REPEATS).all(|k| {
                    let b = &self.pending[tail + i + k * p];
                    !b.unfoldable && b.sig == a.sig
                })
            });
            if !repeats {
                continue;
            }
            while self.pending.len() > MIN_REPEATS * p {
                if let Some(u) = self.pending.pop_front() {
                    self.body.push_str(&u.text);
                }
            }
            let units: Vec<Unit> = self.pending.drain(..).collect();
            let mut labels: Vec<String> = Vec::new();
            for u in &units[..p] {
                if !labels.contains(&u.label) {
                    labels.push(u.label.clone());
                }
            }
            self.fold = Some(Fold {
                pattern: units[..p].iter().map(|u| u.sig).collect(),
                text: units[..p].iter().map(|u| u.text.as_str()).collect(),
                labels,
                reps: MIN_REPEATS as u64,
                first: units[0].first,
                last: units.last().map_or(0, |u| u.last),
                folded_events: units[p..].iter().map(|u| u.events).sum(),
                partial: Vec::new(),
                rest: Some(units[p..].iter().map(|u| u.text.as_str()).collect()),
            });
            return;
        }
    }

    /// Writes the fold as a `loop` (the first round drawn, the others counted); returns the
    /// round it had begun, which did not complete.
    fn close_fold(&mut self) -> Vec<Unit> {
        let Some(f) = self.fold.take() else {
            return Vec::new();
        };
        if let Some(rest) = &f.rest
            && rest.len() <= FOLD_MIN_SAVING
        {
            self.body.push_str(&f.text);
            self.body.push_str(rest);
            return f.partial;
        }
        let mut names = f
            .labels
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if f.labels.len() > 3 {
            names.push_str(", …");
        }
        let title = format!(
            "{} rounds of {names}, [{}]–[{}]: the first drawn, {} more folded ({} events)",
            f.reps,
            f.first,
            f.last,
            f.reps - 1,
            f.folded_events
        );
        self.folded_events += f.folded_events;
        self.body.push_str(&format!("    loop {}\n", mm(&title)));
        self.body.push_str(&f.text);
        self.body.push_str("    end\n");
        f.partial
    }

    /// Closes what is open, writes the notes on what was left out (`damage`: why the
    /// trace ended early), and writes the diagram. Returns the output.
    pub fn finish(mut self, damage: Option<&str>) -> io::Result<W> {
        // What is queued is written as it is; the last stretch may end mid-call.
        let partial = self.close_fold();
        for u in partial.into_iter().chain(std::mem::take(&mut self.pending)) {
            self.body.push_str(&u.text);
        }
        let cur = std::mem::take(&mut self.cur);
        self.body.push_str(&cur.text);
        for l in self.close_all() {
            self.body.push_str(&format!("    {l}\n"));
        }
        self.threads.clear();
        let mut notes: Vec<String> = Vec::new();
        if !self.started {
            notes.push(format!(
                "no event of the trace is in this window ({})",
                self.opts.window.describe(&self.names)
            ));
        }
        if let Some(cut) = self.cut {
            let mut t = format!(
                "{} events from [{cut}] on not drawn, to keep the diagram under Mermaid's \
                 50,000-character limit",
                self.after_cut
            );
            if self.cut_marks_total > 0 {
                t += &format!(
                    "; findings there: {}{}",
                    self.cut_marks.join(", "),
                    if self.cut_marks_total > self.cut_marks.len() {
                        format!(" and {} more", self.cut_marks_total - self.cut_marks.len())
                    } else {
                        String::new()
                    }
                );
            }
            if let Some(cmd) = &self.opts.command {
                t += &format!(". Draw them: {cmd} --from {cut}");
                if self.cut_marks_total > 0 {
                    t += &format!(", or one finding: {cmd} --around EVENT");
                }
            }
            notes.push(t);
        }
        if self.after_window > 0 {
            notes.push(format!(
                "{} events after [{}] not drawn (the window ends here)",
                self.after_window, self.opts.window.to
            ));
        }
        if let Some(d) = damage {
            notes.push(format!(
                "the trace is damaged after this point ({d}); every event before it is drawn"
            ));
        }
        // The closing notes go inside the band they end in (they are part of that run).
        for t in &notes {
            self.body
                .push_str(&format!("    Note over W,{LAST}: {}\n", note_text(t)));
        }
        if self.band_open {
            self.body.push_str("    end\n");
        }
        let order = self.declared();
        let last = order.last().map_or("S".to_string(), |x| format!("E{x}"));
        let body = self.body.replace(LAST, &last);
        let head = self.participants_text(&order);
        self.out.write_all(head.as_bytes())?;
        self.out.write_all(body.as_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Events drawn one by one (not counting those folded away or left out).
    pub fn drawn(&self) -> u64 {
        self.drawn
    }
}

/// Events that must stay visible: a fold would hide them.
fn keeps_visible(e: &Event) -> bool {
    use EventKind::*;
    match &e.kind {
        ServiceStart { .. }
        | ServiceStopping
        | ServiceStopped
        | Load { .. }
        | Unload
        | ValueCorrupted { .. }
        | BufferDamaged { .. }
        | ChangeDataWritten { .. }
        | InputWritten { .. }
        | DeliveryCut { .. }
        | ExtensionCrashed { .. }
        | ExtensionHung { .. } => true,
        GetDataReturn { injected, .. }
        | SetDataReturn { injected, .. }
        | UnregisterReturn { injected, .. }
        | RegisterReturn { injected, .. } => *injected,
        _ => false,
    }
}

/// What a stretch starting with `e` is, in a fold's title.
fn unit_label(e: &Event) -> String {
    match (&e.kind, e.kind.half()) {
        (EventKind::ExternalWriteCall { .. }, _) => "external write".into(),
        (k, Some(Half::Call(_))) => k.function().unwrap_or("call").to_string(),
        (k, _) => k.name().replace('-', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::ExtensionInfo;

    fn ev(seq: u64, ext: Option<u16>, kind: EventKind) -> Event {
        Event {
            seq,
            time: 0,
            thread: 0,
            ext: ext.map(ExtId),
            kind,
        }
    }

    fn header() -> Header {
        Header::new(
            0,
            serde_json::Value::Null,
            vec![
                ExtensionInfo {
                    name: "late".into(),
                    kind: ExtensionKind::Routing,
                    sha256: None,
                },
                ExtensionInfo {
                    name: "early".into(),
                    kind: ExtensionKind::Fsp,
                    sha256: None,
                },
            ],
        )
    }

    fn draw(events: &[Event], marks: &Marks, opts: MermaidOptions) -> String {
        let h = header();
        let mut w = MermaidWriter::new(Vec::new(), &h, marks, opts);
        for e in events {
            w.event(e).unwrap();
        }
        String::from_utf8(w.finish(None).unwrap()).unwrap()
    }

    /// Activation balance as Mermaid checks it: never below zero per participant.
    fn balanced(d: &str) -> bool {
        let mut depth: BTreeMap<String, i64> = BTreeMap::new();
        for l in d.lines().map(str::trim) {
            let (who, delta) = if let Some(p) = l.strip_prefix("deactivate ") {
                (p.to_string(), -1)
            } else if let Some((arrow, _)) = l.split_once(':') {
                if let Some((from, to)) = arrow.split_once("->>+") {
                    let _ = from;
                    (to.to_string(), 1)
                } else if let Some((from, _)) = arrow.split_once("-->>-") {
                    (from.to_string(), -1)
                } else {
                    continue;
                }
            } else {
                continue;
            };
            let d = depth.entry(who).or_default();
            *d += delta;
            if *d < 0 {
                return false;
            }
        }
        depth.values().all(|&d| d == 0)
    }

    fn start_events() -> Vec<Event> {
        use EventKind::*;
        vec![
            ev(0, None, ServiceStart { run: 1 }),
            ev(
                1,
                Some(1),
                Load {
                    kind: ExtensionKind::Fsp,
                    exports: Exports::default(),
                },
            ),
            ev(2, Some(1), InitializeConfigCall),
            ev(
                3,
                Some(1),
                GetDataCall {
                    device: 0,
                    source: 0,
                    guid: Some("{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}".into()),
                    null_out: false,
                },
            ),
            ev(
                4,
                Some(1),
                GetDataReturn {
                    code: 0,
                    buffer: Some(BufferId(1)),
                    data: Some(vec![1, 0, 0, 0].into()),
                    injected: false,
                },
            ),
            ev(5, Some(1), InitializeConfigReturn { hr: 0 }),
        ]
    }

    #[test]
    fn the_documented_interactions_are_numbered_and_nested() {
        let d = draw(
            &start_events(),
            &Marks::default(),
            MermaidOptions::default(),
        );
        assert!(
            d.contains("S->>+E1: (1) FaxExtInitializeConfig(5 callbacks) [2]"),
            "{d}"
        );
        assert!(
            d.contains("E1->>+S: (2) FaxExtGetData(device 0, FAX, {0A9D7B3A…}) [3]"),
            "{d}"
        );
        assert!(
            d.contains("S-->>-E1: (2) reply to [3]: ERROR_SUCCESS, buffer #35;1 = 01000000 [4]"),
            "{d}"
        );
        assert!(d.contains("E1-->>-S: (1) reply to [2]: S_OK [5]"), "{d}");
        // Load order: `early` (loaded) before `late`; the writer on the left.
        let early = d.find("participant E1 as early (fsp)").unwrap();
        let late = d.find("participant E0 as late (routing)").unwrap();
        assert!(
            d.find("actor W as External writer").unwrap() < early && early < late,
            "{d}"
        );
        assert!(balanced(&d), "{d}");
        // The run started and was not stopped: its band is closed anyway.
        assert_eq!(
            d.matches("rect ").count(),
            d.matches("\n    end").count() - 2,
            "{d}"
        );
    }

    #[test]
    fn a_crash_mid_call_and_a_window_mid_call_still_balance() {
        use EventKind::*;
        let mut events = start_events();
        events.truncate(4); // inside GetData inside FaxExtInitializeConfig
        events.push(ev(
            4,
            Some(1),
            ExtensionCrashed {
                detail: "SIGSEGV".into(),
            },
        ));
        let d = draw(&events, &Marks::default(), MermaidOptions::default());
        assert!(balanced(&d), "{d}");
        assert!(d.contains("crashed: SIGSEGV [4]"), "{d}");
        // A window that starts inside the calls draws them as context and closes them.
        let opts = MermaidOptions {
            window: Window {
                from: 4,
                to: 4,
                ext: None,
            },
            ..MermaidOptions::default()
        };
        let d = draw(&start_events(), &Marks::default(), opts);
        assert!(balanced(&d), "{d}");
        assert!(
            d.contains("(1) FaxExtInitializeConfig(5 callbacks) [2]"),
            "{d}"
        );
        assert!(d.contains("4 events before [4] not drawn"), "{d}");
        assert!(d.contains("1 events after [4] not drawn"), "{d}");
        assert!(
            d.contains("service run 1 (started before the window)"),
            "{d}"
        );
        // A window that starts past the calls' returns: the stray reply opens nothing.
        let opts = MermaidOptions {
            window: Window {
                from: 5,
                to: 5,
                ext: None,
            },
            ..MermaidOptions::default()
        };
        let d = draw(&events[..0], &Marks::default(), opts.clone());
        assert!(d.contains("no event of the trace is in this window"), "{d}");
        let mut stray = start_events();
        stray.retain(|e| e.seq != 2);
        let d = draw(&stray, &Marks::default(), MermaidOptions::default());
        assert!(balanced(&d), "{d}");
        assert!(d.contains("E1-->>S: (1) reply: S_OK [5]"), "{d}");
    }

    #[test]
    fn findings_are_notes_at_their_event() {
        let marks = Marks::new(vec![Mark {
            event: 4,
            ext: Some(ExtId(1)),
            level: MarkLevel::Error,
            rule: "buffer-leak".into(),
            message: "buffer #1 from GetData at event 3 was lost".into(),
        }]);
        let d = draw(&start_events(), &marks, MermaidOptions::default());
        let note = format!(
            "rect {ERROR_FILL}\n    Note over E1: error buffer-leak: buffer #35;1 from GetData [3] was lost [4]\n    end"
        );
        assert!(d.contains(&note), "{d}");
        let reply = d.find("ERROR_SUCCESS, buffer").unwrap();
        assert!(reply < d.find(&note).unwrap());
    }

    #[test]
    fn repeated_rounds_fold_and_a_big_run_stays_under_the_limit() {
        use EventKind::*;
        let mut events = start_events();
        let mut seq = events.len() as u64;
        for i in 0..3000u32 {
            events.push(ev(
                seq,
                None,
                ExternalWriteCall {
                    device: 0,
                    guid: Some("{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}".into()),
                    data: Some(i.to_le_bytes().to_vec().into()),
                    size: 4,
                },
            ));
            events.push(ev(seq + 1, None, ExternalWriteReturn { code: 0 }));
            seq += 2;
        }
        let d = draw(&events, &Marks::default(), MermaidOptions::default());
        assert!(d.contains("loop 3000 rounds of external write, [6]–[6005]: the first drawn, 2999 more folded (5998 events)"), "{d}");
        assert!(d.len() < 5_000, "{}", d.len());
        // Without folding the same run is cut, with a note of what was left out.
        let opts = MermaidOptions {
            fold: false,
            command: Some("faxsim show t.trace --format mermaid".into()),
            ..MermaidOptions::default()
        };
        let d = draw(&events, &Marks::default(), opts);
        assert!(d.len() <= MERMAID_MAX_TEXT_SIZE, "{}", d.len());
        let d = d.replace("<br/>", " ");
        assert!(
            d.contains("on not drawn, to keep the diagram under Mermaid"),
            "{d}"
        );
        assert!(
            d.contains("faxsim show t.trace --format mermaid --from "),
            "{d}"
        );
        assert!(balanced(&d));
    }
}
