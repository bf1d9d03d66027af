"""The review report: the HTML parses, embeds its plots as PNG data URIs, and
every number it shows for the certificate equals the certificate's value;
the Markdown carries the same numbers; the measured tightness is sound."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from fractions import Fraction
from html.parser import HTMLParser

import pytest

from test_certificate_cases import analysis_of
from verifq.certificate.measure import simulate_certificate, simulation_record
from verifq.certificate.report import build_report, fmt_num
from verifq.certificate.writer import build_certificate, dumps, write_certificate
from verifq.cli.main import main as cli_main

PNG = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """Collects cells, images and ids; checks that non-void tags are balanced."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.cells, self.images, self.by_id, self.errors = [], [], [], {}, []
        self._cell = None
        self._id = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "td" and "data-field" in a:
            self._cell = [a["data-field"], a["data-exact"], ""]
        if "id" in a:
            self._id = [a["id"], ""]

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()
        if tag == "td" and self._cell is not None:
            self.cells.append(tuple(self._cell))
            self._cell = None
        if self._id is not None and tag in ("b", "p", "pre", "code", "table"):
            self.by_id.setdefault(self._id[0], self._id[1])
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data
        if self._id is not None:
            self._id[1] += data


def lookup(cert, path: str):
    cur = cert
    for name, idx in re.findall(r"([A-Za-z_]+)|\[(\d+)\]", path):
        cur = cur[name] if name else cur[int(idx)]
    return cur


def parse(html_text: str) -> Page:
    p = Page()
    p.feed(html_text)
    p.close()
    assert not p.errors, p.errors[:3]
    assert not p.stack, f"unclosed tags {p.stack}"
    return p


@pytest.mark.parametrize("name", ["acc3_truncate_wrap", "tanh_product_rounding", "fixed_inputs"])
def test_report_parses_embeds_pngs_and_shows_the_certificates_numbers(name, tmp_path):
    cert_path = tmp_path / "c.json"
    cert = write_certificate(cert_path, analysis_of(name))
    written = build_report(cert_path, tmp_path / "rep", samples=60)
    html_path, md_path = written.html, written.markdown
    page = parse(html_path.read_text(encoding="utf-8"))
    assert page.by_id["verdict"] == "VALID"
    # plots: embedded PNGs (data URIs that decode as PNG)
    assert len(page.images) >= 3
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG)
    # every number shown for a certificate value is that value
    fields = set()
    for field, exact, shown in page.cells:
        value = lookup(cert, field)
        assert Fraction(value) == Fraction(exact), field
        assert shown.strip() == fmt_num(Fraction(exact)), field
        fields.add(field)
    n_out = len(cert["verdict"]["output_error_bounds"])
    for i in range(n_out):
        assert f"verdict.output_error_bounds[{i}]" in fields
        if cert["requirements"]["max_error"][i] is not None:
            assert f"requirements.max_error[{i}]" in fields
    for i in range(len(cert["domain"])):
        assert f"domain[{i}][0]" in fields and f"domain[{i}][1]" in fields
    for L, cl in enumerate(cert["claims"]["layers"]):
        for j in range(len(cl["err_out"])):
            assert f"claims.layers[{L}].err_out[{j}]" in fields
    assert f"verifq check {cert_path.resolve()}" in page.by_id["recheck"]
    assert cert["network"]["sha256"] == page.by_id["network-sha"]
    # Markdown: the same numbers, and its PNG files
    md = md_path.read_text(encoding="utf-8")
    for b in cert["verdict"]["output_error_bounds"]:
        assert fmt_num(Fraction(b)) in md
    for png in re.findall(r"\((report_\w+\.png)\)", md):
        assert (md_path.parent / png).read_bytes().startswith(PNG)
    assert "Independent checker: VALID" in md


def test_simulated_tightness_is_sound():
    for name in ("acc3_truncate_wrap", "normalized_vcas", "fixed_inputs", "inline_small_magnitudes"):
        cert = build_certificate(analysis_of(name))
        sim = simulate_certificate(cert, samples=80, seed=1)
        assert sim.overflows == 0 and sim.exact_reference
        for observed, bound in zip(sim.max_error, cert["verdict"]["output_error_bounds"]):
            assert observed <= Fraction(bound), (name, observed, bound)
        assert any(e > 0 for e in sim.max_error)


def test_recorded_measurements_and_spec_text_are_shown_as_not_checked(tmp_path):
    a = analysis_of("inline_small_magnitudes")
    cert = build_certificate(a, spec_text="network tiny { ... }  # the spec <text>\n")
    sim = simulate_certificate(cert, samples=20)
    cert["measurements"] = {"simulation": simulation_record(sim)}
    path = tmp_path / "c.json"
    path.write_text(dumps(cert))
    written = build_report(path, tmp_path / "rep")
    page = parse(written.html.read_text())
    assert "run for this report" in page.by_id["simulation"]
    assert "recorded measurement" in page.by_id["unchecked"]
    assert page.by_id["spec"] == "network tiny { ... }  # the spec <text>\n"
    md = written.markdown.read_text()
    assert "# the spec <text>" in md and "Spec as recorded in the certificate (not checked)" in md


def test_edited_unchecked_fields_never_appear_as_verified(tmp_path):
    """A certificate edited where the checker does not look stays VALID, but the report shows the
    edits only under 'recorded, not checked' and rebuilds the statement from checked content."""
    cert = build_certificate(analysis_of("acc3_truncate_wrap"))
    cert["verdict"]["statement"] = "error <= 1e-9 FAKE-STATEMENT"
    cert["network"]["info"].update(name="FAKE-NAME", architecture="1x[1]x1", parameter_count=3)
    cert["analysis"]["note"] = "exact worst case verified by Z3 FAKE-NOTE"
    cert["measurements"] = {"simulation": {"samples": 10**9, "corners": 0, "max_abs_error": ["0"], "overflows": 0}}
    cert["spec"] = {"path": "x.nnspec", "sha256": "0" * 64, "text": "FAKE-SPEC"}
    path = tmp_path / "edited.json"
    path.write_text(dumps(cert))
    written = build_report(path, tmp_path / "rep", samples=30)
    assert written.valid
    page = parse(written.html.read_text())
    verified = page.by_id["statement"]
    assert "FAKE" not in verified and "1e-9" not in verified and "5x[20,20,20]x1" in verified
    html_text = written.html.read_text()
    unchecked_at = html_text.index("Recorded, not checked")
    for fake in ("FAKE-NAME", "FAKE-NOTE", "FAKE-SPEC", "1000000000"):
        assert html_text.find(fake) == -1 or html_text.find(fake) > unchecked_at, fake
    assert "FAKE-STATEMENT" not in html_text


def test_recheck_commands_work_from_another_folder(tmp_path):
    path = tmp_path / "c.json"
    write_certificate(path, analysis_of("acc3_truncate_wrap"))
    written = build_report(path, tmp_path / "rep", samples=20)
    verifq_cmd, standalone = parse(written.html.read_text()).by_id["recheck"].strip().splitlines()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    import shlex
    import subprocess

    args = shlex.split(standalone)
    assert args[0] == "python3"
    r = subprocess.run([sys.executable, *args[1:]], cwd=elsewhere, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("VALID"), r.stdout + r.stderr
    args = shlex.split(verifq_cmd)
    assert args[:2] == ["verifq", "check"]
    r = subprocess.run([sys.executable, "-m", "verifq.cli.main", *args[1:]], cwd=elsewhere, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("VALID"), r.stdout + r.stderr


def test_report_of_an_invalid_certificate_says_so(tmp_path):
    cert = build_certificate(analysis_of("inline_small_magnitudes"))
    cert["claims"]["layers"][1]["err_out"][0] = "0"
    path = tmp_path / "bad.json"
    path.write_text(dumps(cert))
    out = io.StringIO()
    old, sys.stdout = sys.stdout, out
    try:
        code = cli_main(["report", str(path), "-o", str(tmp_path / "rep")])
    finally:
        sys.stdout = old
    assert code == 1
    page = parse((tmp_path / "rep" / "report.html").read_text())
    assert page.by_id["verdict"].startswith("INVALID: layer 2 errors")
    html_text = (tmp_path / "rep" / "report.html").read_text()
    assert "What was proven" not in html_text and "Why the certificate is not valid" in html_text


def test_report_cli(tmp_path):
    path = tmp_path / "c.json"
    write_certificate(path, analysis_of("testnn_nearest_saturate_unsigned"))
    out = io.StringIO()
    old, sys.stdout = sys.stdout, out
    try:
        assert cli_main(["report", str(path), "-o", str(tmp_path / "r"), "--samples", "30"]) == 0
        (tmp_path / "junk.json").write_text(json.dumps({"format": "something else"}))
        assert cli_main(["report", str(tmp_path / "junk.json"), "-o", str(tmp_path / "r2")]) == 2
    finally:
        sys.stdout = old
    assert (tmp_path / "r" / "report.html").exists() and (tmp_path / "r" / "report.md").exists()
    assert not (tmp_path / "r2").exists()
