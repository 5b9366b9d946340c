"""ramlab.reports.page: scroll boxes and focus stops on the rendered page, PDF without a browser."""

from __future__ import annotations

import re

import pytest

from ramlab.errors import BuildError
from ramlab.reports import page


def _table(columns, caption="Q1 <b>texte</b> &amp; suite"):
    head = "".join(f"<th>c{i}</th>" for i in range(columns - 1))
    return (f"<table><caption>{caption}</caption><thead><tr><th></th>{head}</tr></thead>"
            f'<tbody><tr class="ramlab-item"><th colspan="{columns}">item</th></tr></tbody></table>')


def test_tables_get_named_scroll_boxes_and_only_they_are_focus_stops():
    body = (
        '<div class="jp-Cell-inputWrapper" tabindex="0"></div>'
        f'<div class="jp-OutputArea-output" tabindex="0">{_table(3)}</div>'
        f'<div class="jp-OutputArea-output" tabindex="0">{_table(8)}{_table(15, "")}</div>'
    )
    out = page.prepare_html(f'<html><head><style>table {{}}</style></head><body>{body}</body></html>')
    assert out.count('tabindex="0"') == 3  # the three scroll boxes, nothing else
    boxes = re.findall(r'<div class="([^"]*)" tabindex="0" role="region" aria-label="([^"]*)">', out)
    assert [classes for classes, _ in boxes] == [
        "ramlab-scroll", "ramlab-scroll ramlab-wide", "ramlab-scroll ramlab-wide ramlab-landscape"]
    # unique names (axe-core: landmark-unique), caption text without its markup, escaped
    assert [label for _, label in boxes] == [
        "Tableau 1 : Q1 texte &amp; suite", "Tableau 2 : Q1 texte &amp; suite", "Tableau 3"]
    assert out.count('class="ramlab-scroll-cue"') == 2  # the wide ones
    assert "<style>table {}</style>" in out  # the head is left alone


def test_print_pdf_without_chromium_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RAMLAB_CHROMIUM", str(tmp_path / "absent"))
    assert page.find_chromium() is None
    (tmp_path / "r.html").write_text("<p>x</p>")
    with pytest.raises(BuildError, match="apt-get install chromium"):
        page.print_pdf(tmp_path / "r.html")
