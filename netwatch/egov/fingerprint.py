"""Page fingerprints for defacement checks: stable text, external sources, form actions and title."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from typing import Iterable, Sequence, cast

import lxml.html
from cssselect import HTMLTranslator, SelectorError
from lxml import etree

from netwatch.text import clean as text_clean

# Characters that render as nothing: a defacer hides "h\u200backed" from naive matching with them.
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]")
# C0 controls other than tab and line breaks make lxml refuse a string outright.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)

SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title"})
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "option", "p", "pre", "section", "summary", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "body", "html", "center", "select", "textarea",
    "iframe",
})
# Tags whose source, when it moves to a domain never seen before, can run code in the visitor's browser.
ACTIVE_TAGS = frozenset({"script", "iframe", "frame", "embed", "object"})
_SOURCE_ATTR = {"script": "src", "iframe": "src", "frame": "src", "embed": "src", "object": "data",
                "link": "href"}
_LINK_RELS = frozenset({"stylesheet", "preload", "modulepreload", "import", "prefetch"})
# Attributes whose values a visitor reads or follows; forbidden words are looked for there too.
_READ_ATTRS = ("alt", "title", "content", "href", "value", "placeholder", "aria-label")
_ALL_TEXT = etree.XPath("//text() | " + " | ".join(f"//@{a}" for a in _READ_ATTRS), smart_strings=False)

MAX_BLOCKS = 5000
MAX_SOURCES = 2000
MAX_URL_CHARS = 500
DIFF_MAX_LINES = 30
DIFF_LINE_CHARS = 160
DIFF_MAX_CHARS = 4000

# Most severe first: the outcome's error class is the first one found.
SEVERITY = ("forbidden_content", "new_external_script", "form_changed", "required_missing", "content_changed")


def normalise(text: str) -> str:
    """Text as compared: Unicode NFC (Vietnamese has two spellings of each accented letter),
    invisible characters dropped, whitespace collapsed."""
    return " ".join(_INVISIBLE_RE.sub("", unicodedata.normalize("NFC", text)).split())


def fold(text: str) -> str:
    """Text as searched for words: NFKC also maps full-width and styled letters onto plain ones.

    Diacritics are kept on purpose: stripped, Vietnamese words collide ("cờ bạc", gambling,
    and "có bác" both become "co bac"); list unaccented variants as forbidden words instead.
    """
    return " ".join(_INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", text)).casefold().split())


def clean(text: str, limit: int = DIFF_LINE_CHARS) -> str:
    """Untrusted page text made safe to show, at diff-line length."""
    return text_clean(text, limit, show=True)


@dataclass(frozen=True)
class Selector:
    """A CSS selector, or XPath when it starts with `/` or `(` or is written `xpath:...`."""

    text: str
    xpath: etree.XPath = field(compare=False, repr=False, hash=False)

    @staticmethod
    def parse(text: str) -> "Selector":
        """Raises ValueError with a sentence when the selector does not compile."""
        source = text.strip()
        if not source:
            raise ValueError("an empty selector")
        if source.startswith("xpath:"):
            expression = source[len("xpath:"):].strip()
        elif source.startswith(("/", "(")):
            expression = source
        else:
            expression = source.removeprefix("css:").strip()
            try:
                expression = HTMLTranslator().css_to_xpath(expression)
            except SelectorError as exc:
                raise ValueError(f"{text!r} is not a valid CSS selector: {exc}") from None
        try:
            compiled = etree.XPath(expression)
        except etree.XPathSyntaxError as exc:
            raise ValueError(f"{text!r} is not a valid XPath expression: {exc}") from None
        return Selector(text, compiled)

    def select(self, root: etree._Element) -> list[etree._Element]:
        try:
            found = self.xpath(root)
        except etree.XPathError:
            return []
        if not isinstance(found, list):
            return []
        return [el for el in found if isinstance(el, etree._Element) and isinstance(el.tag, str)]


@dataclass(frozen=True)
class Profile:
    """Which parts of a page make its stable text."""

    include: tuple[Selector, ...] = ()
    ignore: tuple[Selector, ...] = ()

    def digest(self) -> str:
        text = json.dumps([[s.text for s in self.include], [s.text for s in self.ignore]])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Fingerprint:
    title: str
    blocks: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]   # (tag, absolute URL), sorted
    forms: tuple[str, ...]                  # "METHOD absolute-action", sorted

    def to_json(self) -> dict[str, object]:
        return {"title": self.title, "blocks": list(self.blocks),
                "sources": [list(s) for s in self.sources], "forms": list(self.forms)}

    @staticmethod
    def from_json(data: dict[str, object]) -> "Fingerprint":
        blocks = cast(list[str], data.get("blocks", []))
        sources = cast(list[list[str]], data.get("sources", []))
        forms = cast(list[str], data.get("forms", []))
        return Fingerprint(str(data.get("title", "")), tuple(str(b) for b in blocks),
                           tuple((str(t), str(u)) for t, u in sources), tuple(str(f) for f in forms))

    def active_domains(self, page_host: str) -> set[str]:
        return {d for tag, url in self.sources if tag in ACTIVE_TAGS
                for d in [domain_of(url)] if d and d != page_host.lower()}


@dataclass(frozen=True)
class Page:
    """A parsed document: its root, where it came from, and the searchable text of all of it."""

    url: str
    root: etree._Element
    haystack: str

    @property
    def host(self) -> str:
        return (urllib.parse.urlsplit(self.url).hostname or "").lower()


def charset_of(body: bytes, content_type: str | None) -> str:
    if content_type:
        for param in content_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                return _known_codec(value.strip().strip("\"'")) or "utf-8"
    m = _META_CHARSET_RE.search(body[:4096])
    if m:
        return _known_codec(m.group(1).decode("ascii", "replace")) or "utf-8"
    return "utf-8"


def _known_codec(name: str) -> str | None:
    import codecs

    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    try:
        "x".encode(info.name)  # codecs such as rot13 or base64 are not text encodings
    except (LookupError, TypeError, ValueError):
        return None
    return info.name


def parse(body: bytes, url: str, content_type: str | None = None) -> Page:
    """Parse hostile HTML into a Page; never raises for bad markup (an empty document instead)."""
    text = body.decode(charset_of(body, content_type), "replace")
    text = _CONTROL_RE.sub("", _XML_DECL_RE.sub("", text, count=1))
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, recover=True)
    try:
        root = lxml.html.document_fromstring(text, parser=parser) if text.strip() else None
    except (etree.ParserError, ValueError):
        root = None
    if root is None:
        root = lxml.html.document_fromstring("<html><body></body></html>")
    return Page(url, root, fold(" ".join(_all_text(root))))


def _all_text(root: etree._Element) -> Iterable[str]:
    """Every piece of text a visitor or a crawler sees, hidden elements and scripts included."""
    found = _ALL_TEXT(root)
    return found if isinstance(found, list) else []


def fingerprint(page: Page, profile: Profile) -> Fingerprint:
    root = page.root
    title_el = root.find(".//title")
    title = normalise(title_el.text_content() if title_el is not None else "")
    return Fingerprint(clean(title, 300), tuple(_blocks(root, profile)), _sources(page), _forms(page))


def _regions(root: etree._Element, profile: Profile) -> list[etree._Element]:
    if not profile.include:
        body = root.find("body")
        return [body if body is not None else root]
    chosen: set[etree._Element] = set()
    for selector in profile.include:
        chosen.update(selector.select(root))
    # Document order, outermost only: nested matches would count the same text twice.
    ordered = []
    for el in root.iter():
        if el in chosen and not any(a in chosen for a in el.iterancestors()):
            ordered.append(el)
    return ordered


def _blocks(root: etree._Element, profile: Profile) -> list[str]:
    ignored: set[etree._Element] = set()
    for selector in profile.ignore:
        ignored.update(selector.select(root))
    parts: list[str] = []
    for region in _regions(root, profile):
        parts.append("\n")
        skipping = 0
        # iterwalk, not recursion: hostile pages nest elements thousands deep.
        for event, el in etree.iterwalk(region, events=("start", "end")):
            tag = el.tag if isinstance(el.tag, str) else ""
            if event == "start":
                if skipping or tag in SKIP_TAGS or el in ignored or not tag:
                    skipping += 1
                    continue
                if tag in BLOCK_TAGS:
                    parts.append("\n")
                if el.text:
                    parts.append(el.text)
                continue
            if skipping:
                skipping -= 1
                if skipping:
                    continue
            elif tag in BLOCK_TAGS:
                parts.append("\n")
            if el is not region and el.tail:
                parts.append(el.tail)
    text = _INVISIBLE_RE.sub("", unicodedata.normalize("NFC", "".join(parts)))
    blocks = [b for b in (" ".join(line.split()) for line in text.split("\n")) if b]
    if len(blocks) > MAX_BLOCKS:
        # Keep the comparison bounded: fold the page into MAX_BLOCKS groups of neighbours.
        size = -(-len(blocks) // MAX_BLOCKS)
        blocks = [" ".join(blocks[i:i + size]) for i in range(0, len(blocks), size)]
    return blocks


def resolve(base: str, ref: str) -> str:
    ref = ref.strip()
    try:
        absolute = urllib.parse.urljoin(base, ref)
    except ValueError:
        absolute = ref
    return clean(absolute, MAX_URL_CHARS)


def domain_of(url: str) -> str:
    """The host a URL loads from; `data:` and `javascript:` count as pseudo-domains of their own."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url[:100].lower()
    if parts.scheme in ("data", "javascript", "blob"):
        return parts.scheme + ":"
    try:
        return (parts.hostname or "").lower()
    except ValueError:
        return ""


def _sources(page: Page) -> tuple[tuple[str, str], ...]:
    found: set[tuple[str, str]] = set()
    for el in page.root.iter(*_SOURCE_ATTR):
        tag = str(el.tag)
        value = el.get(_SOURCE_ATTR[tag])
        if not value or not value.strip():
            continue
        if tag == "link" and not (set((el.get("rel") or "").lower().split()) & _LINK_RELS):
            continue
        found.add((tag, resolve(page.url, value)))
        if len(found) >= MAX_SOURCES:
            break
    return tuple(sorted(found))


def _forms(page: Page) -> tuple[str, ...]:
    found: set[str] = set()
    for form in page.root.iter("form"):
        method = (form.get("method") or "GET").strip().upper()[:10]
        action = form.get("action")
        found.add(f"{method} {resolve(page.url, action) if action and action.strip() else page.url}")
        if len(found) >= MAX_SOURCES:
            break
    return tuple(sorted(found))


@dataclass(frozen=True)
class Requirement:
    """Something every check of the page must find: an element (selector) or words (`text:...`)."""

    text: str
    selector: Selector | None = None
    words: str = ""

    @staticmethod
    def parse(text: str) -> "Requirement":
        if text.startswith("text:"):
            words = fold(text[len("text:"):])
            if not words:
                raise ValueError(f"{text!r} names no words")
            return Requirement(text, words=words)
        return Requirement(text, selector=Selector.parse(text))

    def met(self, page: Page) -> bool:
        if self.selector is not None:
            return bool(self.selector.select(page.root))
        return self.words in page.haystack


@dataclass(frozen=True)
class Rules:
    forbidden: tuple[str, ...] = ()                 # folded words
    required: tuple[Requirement, ...] = ()
    max_text_change_ratio: float = 0.25
    allow_domains: tuple[str, ...] = ()
    allow_title_change: bool = False
    check_forms: bool = True


@dataclass(frozen=True)
class Finding:
    error: str
    summary: str


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]
    change_ratio: float | None
    diff: tuple[str, ...]

    @property
    def error(self) -> str | None:
        for error in SEVERITY:
            if any(f.error == error for f in self.findings):
                return error
        return None


def check_rules(page: Page, rules: Rules) -> list[Finding]:
    """The rules that need no baseline: forbidden words and required elements."""
    findings = []
    for word in rules.forbidden:
        at = page.haystack.find(word)
        if at >= 0:
            context = page.haystack[max(0, at - 40): at + len(word) + 40]
            findings.append(Finding("forbidden_content",
                                    f"forbidden words {clean(word, 60)!r} found: …{clean(context, 140)}…"))
    for req in rules.required:
        if not req.met(page):
            findings.append(Finding("required_missing", f"required {clean(req.text, 100)!r} not found"))
    return findings


def compare(baseline: Fingerprint, current: Fingerprint, page: Page, rules: Rules) -> Verdict:
    """Everything that differs from the approved page, plus the rules of `check_rules`."""
    findings = check_rules(page, rules)
    allowed = {d.lower() for d in rules.allow_domains}
    new_domains = sorted(d for d in current.active_domains(page.host) - baseline.active_domains(page.host)
                         if not _allowed(d, allowed))
    if new_domains:
        where = [f"{tag} {clean(url, 120)}" for tag, url in current.sources
                 if tag in ACTIVE_TAGS and domain_of(url) in new_domains][:5]
        findings.append(Finding("new_external_script",
                                f"new external source domain {', '.join(clean(d, 80) for d in new_domains[:5])}"
                                f" ({'; '.join(where)})"))
    if rules.check_forms:
        added = sorted(set(current.forms) - set(baseline.forms))
        if added:
            findings.append(Finding("form_changed", "form now sends to "
                                    + "; ".join(clean(a, 150) for a in added[:5])))
    ratio, diff = text_change(baseline.blocks, current.blocks)
    if not rules.allow_title_change and baseline.title != current.title:
        findings.append(Finding("content_changed",
                                f"title changed from {clean(baseline.title, 100)!r} to {clean(current.title, 100)!r}"))
        diff = [f"- title: {clean(baseline.title)}", f"+ title: {clean(current.title)}", *diff]
    if ratio > rules.max_text_change_ratio:
        findings.append(Finding("content_changed",
                                f"{ratio:.0%} of the page text changed (limit {rules.max_text_change_ratio:.0%})"))
    return Verdict(tuple(findings), ratio, tuple(cap_diff(diff)))


def _allowed(domain: str, allowed: set[str]) -> bool:
    return any(domain == a or domain.endswith("." + a) for a in allowed)


def text_change(old: Sequence[str], new: Sequence[str]) -> tuple[float, list[str]]:
    """(changed share of the text, diff lines). The share follows difflib's ratio: unmatched
    characters over all characters, so a complete replacement is 1.0 and an unchanged page 0.0."""
    total = sum(len(b) for b in old) + sum(len(b) for b in new)
    if total == 0:
        return 0.0, []
    matcher = difflib.SequenceMatcher(None, list(old), list(new))
    changed = 0
    diff: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        removed, added = old[i1:i2], new[j1:j2]
        diff.extend("- " + clean(b) for b in removed)
        diff.extend("+ " + clean(b) for b in added)
        changed += _changed_chars(removed, added)
    return min(1.0, changed / total), diff


def _changed_chars(removed: Sequence[str], added: Sequence[str]) -> int:
    """Characters of a replaced hunk that are not shared word for word (a date in a sentence
    changes only the date's share)."""
    size = sum(len(b) for b in removed) + sum(len(b) for b in added)
    if not removed or not added:
        return size
    old_words = " ".join(removed).split(" ")
    new_words = " ".join(added).split(" ")
    if len(old_words) * len(new_words) > 4_000_000:
        return size
    matched = 0
    for block in difflib.SequenceMatcher(None, old_words, new_words).get_matching_blocks():
        matched += sum(len(w) + 1 for w in old_words[block.a: block.a + block.size])
    return max(0, size - 2 * matched)


def cap_diff(lines: Sequence[str]) -> list[str]:
    out: list[str] = []
    used = 0
    for n, line in enumerate(lines):
        if n >= DIFF_MAX_LINES or used + len(line) > DIFF_MAX_CHARS:
            out.append(f"… {len(lines) - n} more changed lines")
            break
        out.append(line)
        used += len(line)
    return out
