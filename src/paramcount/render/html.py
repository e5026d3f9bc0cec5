"""A self-contained HTML page (``--format html``) and a notebook fragment (``Report._repr_html_``).

The page embeds the report's JSON document and draws from it, with inline styles and script and nothing fetched:
totals, an icicle of the module tree sized by parameters (click a block to zoom into it, click the top bar to
zoom out, hover for exact counts; tied and shared modules are marked), parameters and bytes by dtype, what a
file's count left out and why, ties, warnings and notes. Every number is the exact integer. The collapsible module
tree is plain ``<details>`` elements, so it works where scripts do not run (the notebook fragment has no script).

Standard library only.
"""

from __future__ import annotations

import html
import json

from paramcount._typing import TYPE_CHECKING
from paramcount.numbers import exact, human, human_bytes
from paramcount.render._layout import convention_rows, share, trainability
from paramcount.render._text import printable

if TYPE_CHECKING:
    from typing import Any

    from paramcount.report import Report

__all__ = ["fragment", "render"]


def escape(text: str) -> str:
    """Text from a report as HTML that shows it: markup escaped, control and bidi characters as escapes."""
    return html.escape(printable(text))


_STYLE = """
.pc{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;max-width:1200px}
.pc h1{font-size:20px;margin:0 0 4px;word-break:break-all}.pc h2{font-size:15px;margin:22px 0 8px}
.pc .muted{color:#5b6475}.pc code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.pc .cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.pc .card{border:1px solid #dde2ea;border-radius:8px;padding:8px 14px;min-width:140px;background:#fafbfd}
.pc .card b{display:block;font-size:19px;font-variant-numeric:tabular-nums}.pc .card span{color:#5b6475;font-size:12px}
.pc table{border-collapse:collapse;margin:4px 0}.pc th,.pc td{padding:3px 10px;border-bottom:1px solid #eceff4}
.pc th{text-align:left;font-weight:600;color:#3a4252}.pc td.n{text-align:right;font-variant-numeric:tabular-nums}
.pc .warn{background:#fff7e0;border-left:3px solid #e0a100;padding:6px 10px;margin:4px 0}
.pc .note{color:#5b6475;margin:2px 0}
.pc details{margin-left:16px}.pc summary{cursor:pointer;white-space:nowrap}
.pc summary .n{font-variant-numeric:tabular-nums;color:#1d2330}.pc .leaf{margin-left:30px;white-space:nowrap}
.pc .frozen{color:#7a8aa6}.pc .tied{color:#a0469b}
#icicle{position:relative;border:1px solid #dde2ea;border-radius:6px;overflow:hidden;background:#f4f6fa;
 user-select:none}
#icicle .block{position:absolute;box-sizing:border-box;border:1px solid #fff;overflow:hidden;white-space:nowrap;
 font-size:12px;padding:3px 5px;cursor:pointer;color:#fff;text-overflow:ellipsis}
#icicle .block:hover{filter:brightness(1.12)}#icicle .block.tied{outline:2px dashed #ffd84a;outline-offset:-3px}
#tip{position:fixed;pointer-events:none;background:#1d2330;color:#fff;padding:6px 9px;border-radius:5px;
 font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 font-size:12px;display:none;z-index:9;max-width:460px;line-height:1.4}
"""

_SCRIPT = """
(function(){
var doc=JSON.parse(document.getElementById('paramcount-data').textContent);
var rows=doc.modules, byPath={}, kids={};
rows.forEach(function(r){byPath[r.path]=r;kids[r.path]=[];});
rows.forEach(function(r){if(r.path==='')return;var p=r.path.lastIndexOf('.');var up=p<0?'':r.path.slice(0,p);
 while(!(up in byPath)&&up!==''){var q=up.lastIndexOf('.');up=q<0?'':up.slice(0,q);} kids[up].push(r);});
var tied={};(doc.tied||[]).forEach(function(g){g.names.forEach(function(n){var p=n.lastIndexOf('.');
 tied[p<0?'':n.slice(0,p)]=true;});});
var fmt=function(n){return n===null||n===undefined?'unknown':Number(n).toLocaleString('en-US');};
// render._layout.share's rule: one decimal, <0.1% for a part too small to show
var share=function(part,whole){if(!whole)return '';if(part&&part*1000<whole)return '<0.1%';
 return (100*part/whole).toFixed(1)+'%';};
var whole=doc.parameters.total===null?doc.parameters.initialized:doc.parameters.total;
var box=document.getElementById('icicle'), tip=document.getElementById('tip');
var crumb=document.getElementById('zoom-path');
var palette=['#3b6fd8','#2f9e8f','#7a5cd6','#d0643b','#c2407d','#4b8a2e','#9a6b1f','#3d8fc6'];
function color(depth,i){return palette[(depth+i)%palette.length];}
// Names come from files: shown() turns control and bidi characters into escapes, esc() also escapes markup.
var hidden=/[\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u2028-\\u202e\\u2066-\\u2069\\ufeff]/g;
function shown(s){return String(s).replace(hidden,function(c){
 return '\\\\u'+('000'+c.charCodeAt(0).toString(16)).slice(-4);});}
function esc(s){return shown(s).replace(/[&<>"']/g,function(c){return '&#'+c.charCodeAt(0)+';';});}
function label(r){return r.path===''?'(root)':shown(r.path.slice(r.path.lastIndexOf('.')+1));}
function draw(root){
 box.innerHTML='';var W=box.clientWidth||900,H=26,levels=0;
 function lay(r,x,w,d,i){
  if(w<1)return; levels=Math.max(levels,d+1);
  var el=document.createElement('div');el.className='block'+(tied[r.path]||r.shared_with?' tied':'');
  el.style.left=x+'px';el.style.top=(d*H)+'px';el.style.width=w+'px';el.style.height=H+'px';
  el.style.background=color(r.depth,i);el.dataset.path=r.path;el.dataset.parameters=r.parameters;
  el.textContent=w>40?label(r)+' '+fmt(r.parameters):'';
  el.onmousemove=function(e){tip.style.display='block';tip.style.left=(e.clientX+14)+'px';
   tip.style.top=(e.clientY+12)+'px';tip.innerHTML='<b>'+esc(r.path||'(root)')+'</b> '+esc(r.type||'')+
   '<br>parameters: '+fmt(r.parameters)+(whole?' ('+esc(share(r.parameters||0,whole))+' of all)':'')+
   '<br>own: '+fmt(r.own_parameters)+', buffers: '+fmt(r.buffers)+
   (r.trainable!==null&&r.trainable!==undefined?'<br>trainable: '+fmt(r.trainable)+', frozen: '+fmt(r.frozen):'')+
   (r.shared_with?'<br>same module as '+esc(r.shared_with):'')+(tied[r.path]?'<br>holds a tied tensor':'');};
  el.onmouseleave=function(){tip.style.display='none';};
  el.onclick=function(e){e.stopPropagation();draw(r===root&&r.path!==''?parentOf(r):r);};
  box.appendChild(el);
  var total=r.parameters||0, at=x;
  kids[r.path].forEach(function(c,j){var cw=total?w*(c.parameters||0)/total:0;lay(c,at,cw,d+1,j);at+=cw;});
 }
 lay(root,0,W,0,0);box.style.height=(levels*H+2)+'px';
 crumb.textContent=root.path===''?'(root)':shown(root.path);crumb.dataset.path=root.path;
}
function parentOf(r){var p=r.path.lastIndexOf('.');var up=p<0?'':r.path.slice(0,p);
 while(!(up in byPath)&&up!==''){var q=up.lastIndexOf('.');up=q<0?'':up.slice(0,q);} return byPath[up];}
if(rows.length){draw(byPath['']||rows[0]);window.addEventListener('resize',function(){
 draw(byPath[crumb.dataset.path]||byPath['']);});}
document.getElementById('zoom-out').onclick=function(){draw(byPath['']);};
})();
"""


def render(report: Report, *, tensors: bool = False) -> str:
    """The report as one self-contained HTML page (no network: styles, script and data are inline); ``tensors``
    adds a table of every tensor (``--tensors``)."""
    document = report.to_dict(tensors=tensors)
    # Inside <script>, "<!--" and "</script" change how the page is parsed (a tensor name holding "<!--<script>"
    # swallowed the page's own script): every "<", ">" and "&" is written as a JSON escape instead.
    data = json.dumps(document, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = escape(report.target)
    body = _body(report, document, interactive=True)
    if tensors:
        body += _tensor_table(document["tensors"]["list"])
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>paramcount: {title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>body{{margin:24px}}{_STYLE}</style></head>\n"
        f'<body><div class="pc">{body}</div>\n<div id="tip"></div>\n'
        f'<script type="application/json" id="paramcount-data">{data}</script>\n'
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def _tensor_table(rows: list[dict[str, object]]) -> str:
    cells = "".join(
        f"<tr><td>{escape(str(r['name']))}</td><td>{escape('x'.join(map(str, r['shape'] or [])) or '-')}</td>"  # type: ignore[call-overload]
        f"<td>{escape(str(r['dtype']))}</td><td>{escape(str(r['kind']))}</td><td>{escape(str(r['role']))}</td>"
        f"<td class='n'>{'' if r['bytes'] is None else exact(r['bytes'])}</td></tr>"  # type: ignore[arg-type]
        for r in rows
    )
    return (
        '<h2>Tensors</h2><table id="tensors"><tr><th>name</th><th>shape</th><th>dtype</th><th>kind</th>'
        f"<th>role</th><th>bytes</th></tr>{cells}</table>"
    )


def fragment(report: Report) -> str:
    """The report for a notebook cell: summary, collapsible module tree, dtypes, ties, warnings; no script."""
    document = report.to_dict()
    return f'<style>{_STYLE}</style><div class="pc">{_body(report, document, interactive=False)}</div>'


def _body(report: Report, document: dict[str, Any], *, interactive: bool) -> str:
    p, b = report.parameters, report.buffers
    out = [f"<h1>{escape(report.target)}</h1>"]
    facts = []
    if report.format is not None:
        facts.append(f"{escape(report.format)}, {len(report.files)} file(s) read")
    if report.source is not None:
        from paramcount.render._layout import source_line

        facts.append(escape(source_line(report) or ""))
    if facts:
        out.append(f'<div class="muted">{" &middot; ".join(facts)}</div>')
    memory = sum(row.parameter_bytes for row in report.by_dtype)
    cards = [
        ("total-parameters", "parameters", p.total),
        ("trainable-parameters", "trainable", p.trainable),
        ("frozen-parameters", "frozen", p.frozen),
        ("buffer-elements", "buffer elements", b.total),
    ]
    out.append('<div class="cards">')
    for ident, caption, value in cards:
        shown = "unknown" if value is None else exact(value)
        approx = f" ({human(value)})" if value is not None and value >= 1000 else ""
        data = "" if value is None else str(value)
        out.append(
            f'<div class="card"><b id="{ident}" data-value="{data}">{shown}</b><span>{caption}{approx}</span></div>'
        )
    out.append(f'<div class="card"><b>{human_bytes(memory)}</b><span>parameter memory</span></div></div>')
    if report.verification is not None:
        rows = "".join(
            f"<tr><td>{escape(c.figure)}</td><td class='n'>{escape(c.expected)}</td>"
            f"<td class='n'>{'&plusmn;' + exact(c.tolerance) if c.tolerance else 'exact'}</td>"
            f"<td class='n'>{'unknown' if c.actual is None else exact(c.actual)}</td>"
            f"<td>{'ok' if c.passed else '<b>FAILED</b>'}</td></tr>"
            for c in report.verification
        )
        out.append(
            "<h2>Verification</h2><table><tr><th>figure</th><th>expected</th><th>tolerance</th><th>counted</th>"
            f"<th>result</th></tr>{rows}</table>"
        )
    out.extend(f'<div class="warn">warning: {escape(w)}</div>' for w in report.warnings)
    if interactive and report.modules:
        out.append(
            '<h2>Module tree by parameters</h2><div class="muted">click a block to zoom in, the top block to zoom '
            "out; hover for exact counts; dashed: holds a tied tensor or is a shared module &middot; showing "
            '<code id="zoom-path" data-path=""></code> <button id="zoom-out" type="button">whole model</button>'
            '</div><div id="icicle"></div>'
        )
    if report.modules:
        out.append("<h2>Modules</h2>" + _tree(document["modules"], p.total or p.initialized))
    if report.by_dtype:
        rows = "".join(
            f"<tr><td>{escape(d.dtype)}</td><td class='n'>{exact(d.parameters)}</td>"
            f"<td class='n'>{human_bytes(d.parameter_bytes)}</td><td class='n'>{exact(d.buffers)}</td>"
            f"<td class='n'>{human_bytes(d.buffer_bytes)}</td></tr>"
            for d in report.by_dtype
        )
        out.append(
            '<h2>By dtype</h2><table id="by-dtype"><tr><th>dtype</th><th>parameters</th><th>bytes</th>'
            f"<th>buffers</th><th>buffer bytes</th></tr>{rows}</table>"
        )
    roles = [("parameters", "parameter", p.tensors, p.initialized, "counted")]
    roles.append(("buffers", "buffer", b.tensors, b.total, "registered as buffers: never parameters"))
    roles.extend((e.what, e.kind.value, e.tensors, e.elements, e.reason) for e in report.excluded)
    rows = "".join(
        f"<tr><td>{escape(str(what))}</td><td>{escape(kind)}</td><td class='n'>{exact(tensors)}</td>"
        f"<td class='n'>{exact(elements)}</td><td>{escape(reason)}</td></tr>"
        for what, kind, tensors, elements, reason in roles
    )
    out.append(
        '<h2>What was counted</h2><table id="by-kind"><tr><th>what</th><th>kind</th><th>tensors</th>'
        f"<th>elements</th><th>why</th></tr>{rows}</table>"
    )
    if report.roles:
        rows = "".join(
            f"<tr><td>{escape(r.role.replace('_', ' '))}</td><td class='n'>{exact(r.tensors)}</td>"
            f"<td class='n'>{exact(r.parameters)}</td>"
            f"<td class='n'>{escape(share(r.parameters, p.initialized))}</td></tr>"
            for r in report.roles
        )
        out.append(
            '<h2>By role</h2><table id="by-role"><tr><th>role</th><th>tensors</th><th>parameters</th><th>share</th>'
            f"</tr>{rows}"
        )
        out.append("</table>")
    if report.memory is not None:
        out.append(_memory(report))
    if report.conventions is not None and report.conventions.total is not None:
        rows = "".join(
            f"<tr><td>{escape(name)}</td><td class='n'>{'unknown' if value is None else exact(value)}</td>"
            f"<td class='muted'>{escape(formula)}</td></tr>"
            for name, value, formula in convention_rows(report)
        )
        out.append(
            '<h2>Conventions</h2><table id="conventions"><tr><th>convention</th><th>parameters</th><th>formula</th>'
            f"</tr>{rows}</table>"
        )
    if report.tied:
        rows = "".join(
            f"<tr><td class='tied'>{' = '.join(escape(n) for n in g.names)}</td>"
            f"<td class='n'>{'unknown' if g.elements is None else exact(g.elements)}</td></tr>"
            for g in report.tied
        )
        out.append(f"<h2>Tied tensors (counted once)</h2><table><tr><th>names</th><th>elements</th></tr>{rows}</table>")
    if report.variants:
        rows = "".join(
            f"<tr><td>{escape(v.file)}{' (counted)' if v.counted else ''}</td><td>{escape(v.quantization or '')}</td>"
            f"<td class='n'>{exact(v.parameters)}</td>"
            f"<td class='n'>{'' if v.stored_bytes is None else human_bytes(v.stored_bytes)}</td></tr>"
            for v in report.variants
        )
        out.append(
            f"<h2>Files</h2><table><tr><th>file</th><th>type</th><th>parameters</th><th>stored</th></tr>{rows}</table>"
        )
    if report.notes:
        out.append("<h2>Notes</h2>" + "".join(f'<div class="note">{escape(n)}</div>' for n in report.notes))
    return "\n".join(out)


def _memory(report: Report) -> str:
    """The memory estimate: the breakdown the text table shows, the fit, and the assumptions as a list."""
    from paramcount.render._layout import memory

    out = []
    numeric = " class='n'"
    for section in memory(report):
        cells = (
            "".join(f"<td{numeric if i else ''}>{escape(cell)}</td>" for i, cell in enumerate(row))
            for row in section.rows
        )
        rows = "".join(f"<tr>{row}</tr>" for row in cells)
        out.append(f'<h2>{escape(section.title)}</h2><table id="memory">{rows}</table>')
    assumptions = "".join(f"<li>{escape(a)}</li>" for a in report.memory.assumptions) if report.memory else ""
    out.append(f'<ul id="assumptions">{assumptions}</ul>')
    return "".join(out)


def _tree(rows: list[dict[str, Any]], whole: int | None) -> str:
    """Nested ``<details>``: each module with children opens to them; the first two levels start open. Shares are
    of ``whole``, as in the text table."""
    out: list[str] = []
    stack: list[int] = []  # depths of open <details>
    for i, row in enumerate(rows):
        depth = row["depth"]
        while stack and stack[-1] >= depth:
            out.append("</details>")
            stack.pop()
        has_children = i + 1 < len(rows) and rows[i + 1]["depth"] > depth
        name = escape(row["path"].rpartition(".")[2] if row["path"] else "(root)")
        part = share(row["parameters"], whole)
        trained = trainability(row["parameters"], row["trainable"], row["frozen"])
        state = f' <span class="frozen">{trained}</span>' if trained not in ("", "trainable") else ""
        shared = f' <span class="tied">same as {escape(row["shared_with"])}</span>' if row["shared_with"] else ""
        text = (
            f'<code>{name}</code> <span class="muted">{escape(row["type"])}</span> '
            f'<span class="n">{exact(row["parameters"])}</span> '
            f'<span class="muted">{escape(part)}</span>{state}{shared}'
        )
        if has_children:
            opened = " open" if depth < 2 else ""
            out.append(f'<details{opened} data-path="{escape(row["path"])}"><summary>{text}</summary>')
            stack.append(depth)
        else:
            out.append(f'<div class="leaf" data-path="{escape(row["path"])}">{text}</div>')
    out.extend("</details>" for _ in stack)
    return '<div id="tree">' + "\n".join(out) + "</div>"
