"""/docs: the app's OpenAPI description as one plain HTML page, readable offline (no script, font or
style sheet from elsewhere, as the Swagger UI page would fetch)."""
from __future__ import annotations

import json
from html import escape


def render(spec: dict) -> str:
    """HTML listing each path and method: summary, description, fields (name, type, default, text), answers."""
    info = spec.get("info", {})
    parts = [f"<h1>{escape(info.get('title', 'API'))} {escape(str(info.get('version', '')))}</h1>",
             f"<p>{escape(info.get('summary', ''))}</p>",
             '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI '
             f"{escape(spec.get('openapi', ''))}). The page itself: <a href=\"/\">/</a>.</p>"]
    for path, ops in spec.get("paths", {}).items():
        for verb, op in ops.items():
            parts.append(f'<section><h2><code>{verb.upper()} {escape(path)}</code></h2>')
            parts.append(f"<p><b>{escape(op.get('summary', ''))}</b></p><p>{escape(op.get('description', ''))}</p>")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                schema = content.get("schema", {})
                required = set(schema.get("required", []))
                rows = "".join(
                    f"<tr><td><code>{escape(name)}</code>{' (required)' if name in required else ''}</td>"
                    f"<td>{escape(_type(field))}</td><td>{escape(json.dumps(field.get('default', '')))}</td>"
                    f"<td>{escape(field.get('description', ''))}</td></tr>"
                    for name, field in schema.get("properties", {}).items())
                parts.append(f"<p>Request body: <code>{escape(media)}</code></p><table><tr><th>field</th><th>type</th>"
                             f"<th>default</th><th>meaning</th></tr>{rows}</table>")
            answers = "".join(f"<li><code>{escape(code)}</code>: {escape(r.get('description', ''))}</li>"
                              for code, r in op.get("responses", {}).items())
            parts.append(f"<p>Answers:</p><ul>{answers}</ul></section>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;"
             "vertical-align:top}section{margin-top:2rem}")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>inpaint API</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def _type(field: dict) -> str:
    kind = field.get("format") == "binary" and "file" or field.get("type", "")
    if "enum" in field:
        kind += f" ({', '.join(map(str, field['enum']))})"
    if "minimum" in field or "maximum" in field:
        kind += f" [{field.get('minimum', '')}..{field.get('maximum', '')}]"
    return kind
