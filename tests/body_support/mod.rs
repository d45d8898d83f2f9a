//! Random shape-log bodies for the body scanner tests (tests/body_parser.rs): seeded, and
//! written with random but valid spelling (whitespace, escapes, key order), plain Electric
//! bodies or "odd" ones with everything the scanner declines or serde rejects.

/// splitmix64: small, seeded, good enough to pick shapes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A field of an object being written: its name and how to write its value.
type Field = (String, Box<dyn Fn(&mut Gen)>);

/// Writes one value.
type Writer = fn(&mut Gen);

/// Writes JSON text with random (but valid) spelling: whitespace, escapes, key order.
pub struct Gen {
    rng: Rng,
    pub out: String,
    /// Chance (1 in n) of whitespace at each place it may go; 0 = never.
    ws: usize,
    /// Also write what the scanner declines or serde rejects (else: plain Electric bodies).
    odd: bool,
    /// Field names with `\uXXXX` escapes too (the scanner declines those).
    escape_names: bool,
}

const WORDS: &[&str] = &[
    "",
    "a",
    "todo",
    "héllo",
    "日本語",
    "😀",
    "x\"y",
    "back\\slash",
    "a/b",
    "tab\there",
    "line\nbreak",
    "\u{8}\u{c}\r",
    "\u{1}\u{1f}",
    "\u{7f}",
    "\u{ffff}",
    "\u{10ffff}",
    "𝄞 clef",
    "42",
    "-1",
    "0.5",
    "null",
    "true",
    "{\"n\": 1}",
];
const COLUMNS: &[&str] = &[
    "id", "title", "done", "score", "meta", "créé", "a b", "x\"q", "id",
];

impl Gen {
    fn ws(&mut self) {
        if self.ws > 0 && self.rng.one_in(self.ws) {
            let pad = [" ", "\n", "\t", "\r\n", "  "];
            let s = *self.rng.pick(&pad);
            self.out.push_str(s);
        }
    }

    /// With probability 1/n, if odd things are on.
    fn odd(&mut self, n: usize) -> bool {
        self.odd && self.rng.one_in(n)
    }

    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn one_of(&mut self, choices: &[&str]) {
        let s = *self.rng.pick(choices);
        self.out.push_str(s);
    }

    /// A JSON string for `s`, each character raw or escaped at random.
    fn string(&mut self, s: &str) {
        self.string_with(s, true);
    }

    /// A JSON string for `s`; `\uXXXX` escapes for any character only if `unicode`.
    fn string_with(&mut self, s: &str, unicode: bool) {
        self.out.push('"');
        for c in s.chars() {
            let escape = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '\n' => Some("\\n"),
                '\r' => Some("\\r"),
                '\t' => Some("\\t"),
                '\u{8}' => Some("\\b"),
                '\u{c}' => Some("\\f"),
                '/' if self.rng.one_in(2) => Some("\\/"),
                _ => None,
            };
            if c < ' ' && escape.is_none() || unicode && self.rng.one_in(8) {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let hex = if self.rng.one_in(2) {
                        format!("\\u{u:04x}")
                    } else {
                        format!("\\u{u:04X}")
                    };
                    self.out.push_str(&hex);
                }
            } else if let Some(e) = escape {
                self.out.push_str(e);
            } else {
                self.out.push(c);
            }
        }
        self.out.push('"');
    }

    fn text(&mut self) -> String {
        let n = self.rng.below(3);
        (0..n)
            .map(|_| *self.rng.pick(WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The value of a field this client does not know (ignored by serde, even when it is not
    /// what the scanner follows; odd ones are not JSON at all).
    fn unknown(&mut self) {
        if self.odd(3) {
            return self.one_of(&[
                r#""\ud800""#,
                r#""\udc00x""#,
                r#""\ud800\u0041""#,
                "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
                r#"{"a":{"b":[1,2,{"c":null}]}}"#,
                "1.5e+3",
                "-0.0",
                "1E5",
                "01",
                "1.",
                "-",
                ".5",
                "1e",
                "tru",
                "nul",
                r#""\x""#,
                "[1,]",
                r#"{"a"}"#,
                r#"{"a":1,}"#,
                "[1 2]",
                "{1:2}",
                r#""\u12""#,
                "+1",
                "[}",
            ]);
        }
        self.any(0)
    }

    fn number(&mut self) {
        let forms = [
            "0",
            "7",
            "-3",
            "1.5",
            "-0",
            "1e3",
            "2.50",
            "1E-2",
            "18446744073709551615",
            "18446744073709551616",
            "123456789012345678901234567890",
            "-9223372036854775809",
            "0.1e1",
        ];
        let n = *self.rng.pick(&forms);
        if self.odd(8) {
            // Not JSON numbers: serde rejects them, even where it ignores the value.
            return self.one_of(&[
                "01", "1.", "-", "1e", ".5", "-01", "1e+", "00", "1.5e", "+1", "0x1",
            ]);
        }
        self.raw(n);
    }

    /// Any JSON value (bounded depth).
    fn any(&mut self, depth: usize) {
        match self.rng.below(if depth > 2 { 5 } else { 7 }) {
            0 => self.raw("null"),
            1 => self.one_of(&["true", "false"]),
            2 => self.number(),
            3 | 4 => {
                let t = self.text();
                self.string(&t);
            }
            5 => {
                self.raw("[");
                for i in 0..self.rng.below(3) {
                    if i > 0 {
                        self.raw(",");
                    }
                    self.ws();
                    self.any(depth + 1);
                    self.ws();
                }
                self.raw("]");
            }
            _ => {
                let fields: Vec<Field> = (0..self.rng.below(3))
                    .map(|_| {
                        (
                            self.text(),
                            Box::new(move |g: &mut Gen| g.any(depth + 1)) as Box<dyn Fn(&mut Gen)>,
                        )
                    })
                    .collect();
                self.object(fields);
            }
        }
    }

    /// `{"name": value, ...}` with the given fields in order.
    fn object(&mut self, fields: Vec<Field>) {
        self.raw("{");
        self.ws();
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                self.raw(",");
                self.ws();
            }
            let escaped_names = self.escape_names;
            self.string_with(name, escaped_names);
            self.ws();
            self.raw(":");
            self.ws();
            value(self);
            self.ws();
        }
        self.raw("}");
    }

    fn row(&mut self) {
        let most = if self.rng.one_in(6) { 1 } else { 7 };
        let n = self.rng.below(most);

        let mut fields: Vec<Field> = Vec::new();
        for usual in &COLUMNS[..n] {
            let name = if self.rng.one_in(4) {
                (*self.rng.pick(COLUMNS)).to_string()
            } else {
                usual.to_string()
            };
            let kind = self.rng.below(20);
            fields.push((
                name,
                Box::new(move |g: &mut Gen| match kind {
                    0..=2 => g.raw("null"),
                    // objects and arrays (the scanner declines them) only in odd bodies
                    3 if g.odd => g.any(1),
                    3 | 4 => g.number(),
                    5 => g.one_of(&["true", "false"]),
                    _ => {
                        let t = g.text();
                        g.string(&t);
                    }
                }),
            ));
        }
        self.object(fields);
    }

    fn decimal(&mut self) {
        match self.rng.below(12) {
            0 if self.odd => self.raw("null"),
            1 if self.odd => self.number(),
            2 if self.odd => {
                let s = *self
                    .rng
                    .pick(&["", "+5", "x", "007", "18446744073709551616", "-1", " 1"]);
                self.string(s);
            }
            3..=6 => {
                let n = self.rng.next() >> self.rng.below(64);
                self.raw(&n.to_string());
            }
            _ => {
                let n = self.rng.next() >> self.rng.below(64);
                self.string(&n.to_string());
            }
        }
    }

    fn list(&mut self, item: fn(&mut Gen)) {
        if self.rng.one_in(12) {
            return self.raw("null");
        }
        self.raw("[");
        self.ws();
        for i in 0..self.rng.below(4) {
            if i > 0 {
                self.raw(",");
                self.ws();
            }
            item(self);
            self.ws();
        }
        self.raw("]");
    }

    fn headers(&mut self) {
        let f = |name: &str, v: fn(&mut Gen)| -> Field { (name.to_string(), Box::new(v)) };
        let mut fields: Vec<Field> = Vec::new();
        match self.rng.below(10) {
            0 if self.odd || self.rng.one_in(2) => {
                fields.push(f("control", |g| {
                    let k = *g
                        .rng
                        .pick(&["up-to-date", "must-refetch", "snapshot-end", "brand-new"]);
                    g.string(k)
                }));
                for name in [
                    "global_last_seen_lsn",
                    "xmin",
                    "xmax",
                    "database_lsn",
                    "snapshot_mark",
                ] {
                    if self.rng.one_in(2) {
                        fields.push(f(name, Gen::decimal));
                    }
                }
                if self.rng.one_in(2) {
                    fields.push(f("xip_list", |g| g.list(Gen::decimal)));
                }
            }
            1 if self.odd => {
                fields.push(f("event", |g| {
                    let k = *g.rng.pick(&["move-in", "move-out", "teleport"]);
                    g.string(k)
                }));
                fields.push(f("patterns", |g| {
                    g.raw(r#"[{"pos":0,"value":"abc"},{"pos":1,"value":"d\u0065f"}]"#)
                }));
                fields.push(f("txids", |g| g.list(Gen::decimal)));
            }
            _ => {
                fields.push(f("operation", |g| {
                    let ops = ["insert", "insert", "update", "delete", "upsert", "ins\\u0065rt"];
                    let op = *g.rng.pick(&ops[..if g.odd { 6 } else { 4 }]);
                    if op.contains('\\') {
                        g.raw(&format!("\"{op}\""));
                    } else if g.odd(40) {
                        g.raw("null");
                    } else {
                        g.string(op);
                    }
                }));
                fields.push(f("relation", |g| {
                    match g.rng.below(15) + if g.odd { 0 } else { 4 } {
                        0 => g.raw("null"),
                        1 => g.raw(r#"["public"]"#),
                        2 => g.raw(r#"["a","b","c"]"#),
                        3 => g.raw("[1,2]"),
                        _ => {
                            g.raw("[");
                            g.string("public");
                            g.raw(",");
                            g.ws();
                            let t = *g.rng.pick(&["todos", "issues", "t\"x", "日本"]);
                            g.string(t);
                            g.raw("]");
                        }
                    }
                }));
                let optional: [(&str, Writer); 11] = [
                    ("lsn", Gen::decimal),
                    ("op_position", Gen::decimal),
                    ("txids", |g| g.list(Gen::decimal)),
                    ("last", |g| {
                        g.one_of(&["true", "false", "null", "1"][..if g.odd { 4 } else { 3 }])
                    }),
                    ("key_change_to", |g| g.string("k2")),
                    ("key_change_from", |g| g.string("k\\1")),
                    ("tags", |g| g.list(|g| g.string("a/1"))),
                    ("removed_tags", |g| g.list(|g| g.string("ü/2"))),
                    ("active_conditions", |g| g.list(|g| g.one_of(&["true", "false"]))),
                    ("is_move_in", |g| g.one_of(&["true", "false", "null"])),
                    ("snapshot_mark", Gen::decimal),
                ];
                for (name, v) in optional {
                    if self.rng.one_in(3) {
                        fields.push(f(name, v));
                    }
                }
            }
        }
        if self.rng.one_in(4) {
            fields.push(f("future_field", Gen::unknown));
        }
        if self.odd(40) && !fields.is_empty() {
            let i = self.rng.below(fields.len());
            let name = fields[i].0.clone();
            fields.push((name, Box::new(|g: &mut Gen| g.decimal())));
        }
        self.shuffle(&mut fields);
        self.object(fields);
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        if self.rng.one_in(3) {
            for i in (1..items.len()).rev() {
                items.swap(i, self.rng.below(i + 1));
            }
        }
    }

    pub fn message(&mut self) {
        if self.odd(60) {
            return self.any(1); // not an object
        }
        let mut fields: Vec<Field> = Vec::new();
        if !self.odd(30) {
            fields.push((
                "key".into(),
                Box::new(|g: &mut Gen| {
                    if g.odd(50) {
                        g.raw("null")
                    } else {
                        let k = format!("\"public\".\"todos\"/\"{}\"", g.text());
                        g.string(&k)
                    }
                }),
            ));
        }
        if !self.rng.one_in(15) {
            fields.push((
                "value".into(),
                Box::new(|g: &mut Gen| if g.rng.one_in(30) { g.raw("null") } else { g.row() }),
            ));
        }
        if self.rng.one_in(6) {
            fields.push(("old_value".into(), Box::new(|g: &mut Gen| g.row())));
        }
        if !self.odd(60) {
            fields.push(("headers".into(), Box::new(|g: &mut Gen| g.headers())));
        }
        if self.rng.one_in(6) {
            fields.push(("offset".into(), Box::new(|g: &mut Gen| g.unknown())));
        }
        if self.odd(80) && !fields.is_empty() {
            let name = fields[0].0.clone();
            fields.push((name, Box::new(|g: &mut Gen| g.raw("null"))));
        }
        self.shuffle(&mut fields);
        self.object(fields);
    }

    pub fn body(&mut self) -> Vec<u8> {
        self.out.clear();
        self.ws();
        self.raw("[");
        self.ws();
        for i in 0..self.rng.below(7) {
            if i > 0 {
                self.raw(",");
                self.ws();
            }
            self.message();
            self.ws();
        }
        self.raw("]");
        self.ws();
        self.out.clone().into_bytes()
    }
}

/// A generator: `ws` is the chance (1 in n, 0 = never) of whitespace at each place it may go;
/// `odd` adds what the scanner declines or serde rejects.
pub fn generator(seed: u64, ws: usize, odd: bool) -> Gen {
    Gen {
        rng: Rng(seed),
        out: String::new(),
        ws,
        odd,
        escape_names: odd && seed % 3 == 0,
    }
}
