#!/usr/bin/env python3
"""Regenerates the type=multireg <configOption> entries of docs/res_pjsip_multireg-en_US.xml
from OPTION_DOCS in src/policy/config.rs (a unit test checks the two agree)."""
import html
import re
import sys
from pathlib import Path

top = Path(__file__).resolve().parent.parent
source = (top / "src/policy/config.rs").read_text()
constants = dict(re.findall(r'pub const (DEFAULT_[A-Z_]+): &str =\s*"([^"]*)"', source))
block = source[source.index("pub const OPTION_DOCS"):]
block = block[: block.index("];")]
entry = re.compile(r'\("([a-z0-9_]+)",\s*("(?:[^"\\]|\\.)*"|[A-Z_]+),\s*"((?:[^"\\]|\\.)*)"\)')
options = []
for name, default, text in entry.findall(block):
    default = constants.get(default, default.strip('"'))
    options.append((name, default, text.replace("\\\\", "\\")))
e = html.escape
rendered = "\n".join(
    f'\t\t\t\t<configOption name="{e(n)}" default="{e(d)}">\n'
    f"\t\t\t\t\t<synopsis>{e(t.split('. ')[0].rstrip('.'))}</synopsis>\n"
    f"\t\t\t\t\t<description><para>{e(t)}</para></description>\n"
    f"\t\t\t\t</configOption>"
    for n, d, t in options
    if n != "type"
)
xml_path = top / "docs/res_pjsip_multireg-en_US.xml"
xml = xml_path.read_text()
start = xml.index("\t\t\t\t<configOption ")
end = xml.rindex("</configOption>") + len("</configOption>")
xml_path.write_text(xml[:start] + rendered + xml[end:])
print(f"{len(options) - 1} options written to {xml_path.relative_to(top)}", file=sys.stderr)
