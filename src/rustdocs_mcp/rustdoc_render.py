"""Render rustdoc JSON fragments (types, generics, declarations) as Rust source text.

The output imitates the text of rustdoc's `item-decl` blocks, so a signature read from the
JSON looks like the one read from the HTML page: paths are shown by their last segment
(`Result<Self, Error>`), bodies are elided, where clauses go on their own lines.

Every renderer takes the decoded JSON (externally tagged enums: `{"borrowed_ref": {...}}`,
unit variants as plain strings like `"infer"`) and raises ValueError/KeyError/TypeError on
a shape it does not know; the caller decides whether to skip the item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Json = Any
Lookup = Callable[[Any], Mapping[str, Any] | None]  # id -> index entry, or None if absent

_ABI_NAMES = {
    "C": "C",
    "Cdecl": "cdecl",
    "Stdcall": "stdcall",
    "Fastcall": "fastcall",
    "Aapcs": "aapcs",
    "Win64": "win64",
    "SysV64": "sysv64",
    "System": "system",
}
_SHOWN_ATTRS = ("#[non_exhaustive]", "#[no_mangle]", "#[unsafe(no_mangle)]")
_SHOWN_ATTR_PREFIXES = ("#[export_name", "#[link_section", "#[unsafe(export_name")
_MAX_LISTED = 30  # fields/variants listed in a struct/enum declaration before eliding


def tagged(node: Json) -> tuple[str, Json]:
    """Split an externally tagged enum value into (variant, payload)."""
    if isinstance(node, dict) and len(node) == 1:  # decoded JSON; checked first as it is hot
        ((key, value),) = node.items()
        return str(key), value
    if isinstance(node, str):
        return node, None
    if isinstance(node, Mapping) and len(node) == 1:
        ((key, value),) = node.items()
        return str(key), value
    raise ValueError(f"not a tagged enum value: {str(node)[:80]}")


def short_path(path: str) -> str:
    return path.rsplit("::", 1)[-1]


# --- types -----------------------------------------------------------------------------------


def render_type(ty: Json) -> str:
    kind, v = tagged(ty)
    if kind in ("generic", "primitive"):
        return str(v)
    if kind == "resolved_path":
        return render_path(v)
    if kind == "dyn_trait":
        return _render_dyn(v)
    if kind == "function_pointer":
        return _render_fn_pointer(v)
    if kind == "tuple":
        inner = [render_type(t) for t in v]
        return f"({inner[0]},)" if len(inner) == 1 else f"({', '.join(inner)})"
    if kind == "slice":
        return f"[{render_type(v)}]"
    if kind == "array":
        return f"[{render_type(v['type'])}; {v['len']}]"
    if kind == "pat":
        return f"{render_type(v['type'])} is {v['__pat_unstable_do_not_use']}"
    if kind == "impl_trait":
        return "impl " + render_bounds(v)
    if kind == "infer":
        return "_"
    if kind == "raw_pointer":
        mutability = "mut" if v["is_mutable"] else "const"
        return f"*{mutability} {_pointee(v['type'])}"
    if kind == "borrowed_ref":
        lifetime = f"{v['lifetime']} " if v.get("lifetime") else ""
        mutability = "mut " if v["is_mutable"] else ""
        return f"&{lifetime}{mutability}{_pointee(v['type'])}"
    if kind == "qualified_path":
        return _render_qualified(v)
    raise ValueError(f"unknown type kind {kind!r}")


def _pointee(ty: Json) -> str:
    """A type behind `&`/`*`: `dyn A + B` and `impl A + B` need parentheses there."""
    text = render_type(ty)
    kind, _ = tagged(ty)
    if kind in ("dyn_trait", "impl_trait") and " + " in text:
        return f"({text})"
    return text


def render_path(path: Json) -> str:
    return short_path(str(path["path"])) + render_generic_args(path.get("args"))


def render_generic_args(args: Json) -> str:
    if args is None:
        return ""
    kind, v = tagged(args)
    if kind == "angle_bracketed":
        parts = [_render_generic_arg(a) for a in v.get("args", [])]
        parts += [_render_constraint(c) for c in v.get("constraints", [])]
        return f"<{', '.join(parts)}>" if parts else ""
    if kind == "parenthesized":
        inputs = ", ".join(render_type(t) for t in v.get("inputs", []))
        output = v.get("output")
        return f"({inputs})" + (f" -> {render_type(output)}" if output is not None else "")
    if kind == "return_type_notation":
        return "(..)"
    raise ValueError(f"unknown generic args kind {kind!r}")


def _render_generic_arg(arg: Json) -> str:
    kind, v = tagged(arg)
    if kind == "lifetime":
        return str(v)
    if kind == "type":
        return render_type(v)
    if kind == "const":
        return str(v.get("expr", "_"))
    if kind == "infer":
        return "_"
    raise ValueError(f"unknown generic arg kind {kind!r}")


def _render_constraint(constraint: Json) -> str:
    head = str(constraint["name"]) + render_generic_args(constraint.get("args"))
    kind, v = tagged(constraint["binding"])
    if kind == "equality":
        return f"{head} = {_render_term(v)}"
    if kind == "constraint":
        return f"{head}: {render_bounds(v)}"
    raise ValueError(f"unknown constraint kind {kind!r}")


def _render_term(term: Json) -> str:
    kind, v = tagged(term)
    if kind == "type":
        return render_type(v)
    if kind == "constant":
        return str(v.get("expr", "_"))
    raise ValueError(f"unknown term kind {kind!r}")


def _render_dyn(dyn: Json) -> str:
    parts = [_hrtb(p.get("generic_params", [])) + render_path(p["trait"]) for p in dyn["traits"]]
    if dyn.get("lifetime"):
        parts.append(str(dyn["lifetime"]))
    return "dyn " + " + ".join(parts)


def _render_fn_pointer(fp: Json) -> str:
    sig = fp["sig"]
    args = [
        render_type(t) if name in ("", "_") else f"{name}: {render_type(t)}"
        for name, t in sig["inputs"]
    ]
    if sig.get("is_c_variadic"):
        args.append("...")
    output = sig.get("output")
    ret = f" -> {render_type(output)}" if output is not None else ""
    hrtb = _hrtb(fp.get("generic_params", []))
    return f"{hrtb}{render_header(fp['header'])}fn({', '.join(args)}){ret}"


def _render_qualified(q: Json) -> str:
    args = render_generic_args(q.get("args"))
    self_type = q["self_type"]
    trait = q.get("trait")
    # rustdoc leaves the trait path empty where the trait is implied by a bound; its HTML
    # then shows the short form (`V::Value`), and so do we.
    if trait is None or self_type == {"generic": "Self"} or not trait.get("path"):
        return f"{render_type(self_type)}::{q['name']}{args}"
    return f"<{render_type(self_type)} as {render_path(trait)}>::{q['name']}{args}"


# --- bounds and generics ---------------------------------------------------------------------


def render_bounds(bounds: Sequence[Json]) -> str:
    return " + ".join(_render_bound(b) for b in bounds)


def _render_bound(bound: Json) -> str:
    kind, v = tagged(bound)
    if kind == "trait_bound":
        modifier = {"maybe": "?", "maybe_const": "~const "}.get(v.get("modifier", "none"), "")
        return _hrtb(v.get("generic_params", [])) + modifier + render_path(v["trait"])
    if kind == "outlives":
        return str(v)
    if kind == "use":
        names = [a if isinstance(a, str) else tagged(a)[1] for a in v]
        return f"use<{', '.join(names)}>"
    raise ValueError(f"unknown bound kind {kind!r}")


def _hrtb(params: Sequence[Json]) -> str:
    rendered = render_generic_params(params)
    return f"for{rendered} " if rendered else ""


def render_generic_params(params: Sequence[Json]) -> str:
    """`<'a, T: Clone, const N: usize>`, or "" when there are none to show."""
    parts = []
    for param in params:
        name = param["name"]
        kind, v = tagged(param["kind"])
        if kind == "lifetime":
            outlives = v.get("outlives", [])
            parts.append(f"{name}: {' + '.join(outlives)}" if outlives else name)
        elif kind == "type":
            if v.get("is_synthetic"):
                continue  # `impl Trait` in argument position: shown in the argument
            text = name + (f": {render_bounds(v['bounds'])}" if v.get("bounds") else "")
            if v.get("default") is not None:
                text += f" = {render_type(v['default'])}"
            parts.append(text)
        elif kind == "const":
            default = f" = {v['default']}" if v.get("default") is not None else ""
            parts.append(f"const {name}: {render_type(v['type'])}{default}")
        else:
            raise ValueError(f"unknown generic param kind {kind!r}")
    return f"<{', '.join(parts)}>" if parts else ""


def render_where(generics: Json, *, multiline: bool = True) -> str:
    parts = [_render_predicate(p) for p in generics.get("where_predicates", [])]
    if not parts:
        return ""
    if multiline:
        return "\nwhere\n    " + ",\n    ".join(parts) + ","
    return " where " + ", ".join(parts)


def _render_predicate(pred: Json) -> str:
    kind, v = tagged(pred)
    if kind == "bound_predicate":
        head = _hrtb(v.get("generic_params", [])) + render_type(v["type"])
        return f"{head}: {render_bounds(v['bounds'])}" if v.get("bounds") else f"{head}:"
    if kind == "lifetime_predicate":
        return f"{v['lifetime']}: {' + '.join(v['outlives'])}"
    if kind == "eq_predicate":
        return f"{render_type(v['lhs'])} == {_render_term(v['rhs'])}"
    raise ValueError(f"unknown where predicate kind {kind!r}")


# --- functions -------------------------------------------------------------------------------


def render_header(header: Json) -> str:
    """`const async unsafe extern "C" ` (each part only when present)."""
    parts = [
        word
        for word, flag in (("const", "is_const"), ("async", "is_async"), ("unsafe", "is_unsafe"))
        if header.get(flag)
    ]
    abi = render_abi(header.get("abi", "Rust"))
    if abi:
        parts.append(f"extern {abi}")
    return "".join(f"{p} " for p in parts)


def render_abi(abi: Json) -> str:
    """The quoted ABI string, or "" for the Rust ABI."""
    kind, v = tagged(abi)
    if kind == "Rust":
        return ""
    if kind == "Other":
        text = str(v).strip('"')
        return f'"{text}"'
    name = _ABI_NAMES.get(kind, kind.lower())
    unwind = "-unwind" if isinstance(v, Mapping) and v.get("unwind") else ""
    return f'"{name}{unwind}"'


def render_visibility(vis: Json) -> str:
    kind, v = tagged(vis)
    if kind == "public":
        return "pub "
    if kind == "crate":
        return "pub(crate) "
    if kind == "restricted":
        path = str(v.get("path", "")).removeprefix("::")
        return f"pub({path}) " if path in ("self", "super", "crate") else f"pub(in {path}) "
    return ""


def render_fn(name: str, func: Json, vis: str = "") -> str:
    sig = func["sig"]
    args = [_render_arg(arg_name, ty) for arg_name, ty in sig["inputs"]]
    if sig.get("is_c_variadic"):
        args.append("...")
    output = sig.get("output")
    ret = f" -> {render_type(output)}" if output is not None else ""
    generics = func.get("generics", {})
    head = f"{vis}{render_header(func.get('header', {}))}fn {name}"
    return (
        f"{head}{render_generic_params(generics.get('params', []))}({', '.join(args)}){ret}"
        + render_where(generics)
    )


def _render_arg(name: str, ty: Json) -> str:
    if name == "self":
        if ty == {"generic": "Self"}:
            return "self"
        kind, v = tagged(ty)
        if kind == "borrowed_ref" and v["type"] == {"generic": "Self"}:
            lifetime = f"{v['lifetime']} " if v.get("lifetime") else ""
            return f"&{lifetime}{'mut ' if v['is_mutable'] else ''}self"
    return f"{name}: {render_type(ty)}"


def render_impl_header(impl: Json) -> str:
    """`impl<T: Buf> Buf for Take<T>`, `unsafe impl Send for X`, `impl !Sync for Y`."""
    generics = impl.get("generics", {})
    head = ("unsafe " if impl.get("is_unsafe") else "") + "impl"
    head += render_generic_params(generics.get("params", [])) + " "
    trait = impl.get("trait")
    if trait is not None:
        head += ("!" if impl.get("is_negative") else "") + render_path(trait) + " for "
    return head + render_type(impl["for"]) + render_where(generics, multiline=False)


# --- attributes ------------------------------------------------------------------------------


def attr_texts(attrs: Sequence[Json]) -> list[str]:
    """Attributes as source-like strings, from either attrs format.

    Format versions up to 53 give strings (`"#[non_exhaustive]"`); from 54 on they are
    structured (`"non_exhaustive"`, `{"must_use": {"reason": null}}`, `{"other": "#[..]"}`).
    """
    texts = []
    for attr in attrs:
        if isinstance(attr, str):
            texts.append(attr.strip() if attr.startswith("#") else f"#[{attr}]")
            continue
        kind, v = tagged(attr)
        if kind == "other":
            texts.append(str(v).strip())
        elif kind == "must_use":
            reason = v.get("reason") if isinstance(v, Mapping) else None
            texts.append(f'#[must_use = "{reason}"]' if reason else "#[must_use]")
        elif kind in ("export_name", "link_section"):
            texts.append(f'#[{kind} = "{v}"]')
        elif kind == "repr":
            texts.append(_render_repr(v))
        elif kind == "target_feature":
            enabled = ", ".join(f'enable = "{f}"' for f in v.get("enable", []))
            texts.append(f"#[target_feature({enabled})]")
        else:
            texts.append(f"#[{kind}]")
    return texts


def _render_repr(repr_: Json) -> str:
    parts = []
    kind = repr_.get("kind")
    if kind and kind != "rust":
        parts.append("C" if kind == "c" else str(kind))
    if repr_.get("int"):
        parts.append(str(repr_["int"]))
    if repr_.get("packed") is not None:
        parts.append(f"packed({repr_['packed']})")
    if repr_.get("align") is not None:
        parts.append(f"align({repr_['align']})")
    return f"#[repr({', '.join(parts)})]"


def _shown_attrs(attrs: Sequence[Json]) -> str:
    shown = [
        a for a in attr_texts(attrs) if a in _SHOWN_ATTRS or a.startswith(_SHOWN_ATTR_PREFIXES)
    ]
    return "".join(f"{a}\n" for a in shown)


# --- declarations ----------------------------------------------------------------------------


def render_decl(item: Json, lookup: Lookup, name: str | None = None) -> str:
    """The declaration of an index item, like rustdoc's `item-decl` block.

    `name` overrides the item's own name, for an item shown where it is re-exported as
    another name (`pub use anyhow as format_err;` documents `macro_rules! format_err`).
    """
    kind, v = tagged(item["inner"])
    own_name = str(item.get("name") or "")
    name = name or own_name
    vis = render_visibility(item.get("visibility", "default"))
    attrs = _shown_attrs(item.get("attrs", []))
    if kind == "function":
        return attrs + render_fn(name, v, vis)
    if kind == "struct":
        return attrs + _render_struct(name, v, vis, lookup)
    if kind == "enum":
        return attrs + _render_enum(name, v, vis, lookup)
    if kind == "union":
        fields = _field_lines(v.get("fields", []), lookup, v.get("has_stripped_fields", False))
        return attrs + f"{vis}union {name}{_generics_and_where(v)}" + _block(fields)
    if kind == "trait":
        return _render_trait(name, v, vis)
    if kind == "trait_alias":
        head = f"{vis}trait {name}{render_generic_params(v['generics'].get('params', []))}"
        return f"{head} = {render_bounds(v['params'])}{render_where(v['generics'])};"
    if kind == "type_alias":
        generics = render_generic_params(v["generics"].get("params", []))
        where = render_where(v["generics"])
        return f"{vis}type {name}{generics}{where} = {render_type(v['type'])};"
    if kind == "constant":
        return (
            f"{vis}const {name}: {render_type(v['type'])}{_value(v.get('const', {}).get('expr'))}"
        )
    if kind == "static":
        mutable = "mut " if v.get("is_mutable") else ""
        unsafe = "unsafe " if v.get("is_unsafe") else ""
        return f"{vis}{unsafe}static {mutable}{name}: {render_type(v['type'])}"
    if kind == "macro":
        text = str(v)
        old = f"macro_rules! {own_name}"
        return f"macro_rules! {name}{text[len(old) :]}" if text.startswith(old) else text
    if kind == "proc_macro":
        return _render_proc_macro(name, v)
    if kind == "module":
        return f"crate {name}" if v.get("is_crate") else f"{vis}mod {name}"
    if kind == "assoc_const":
        return f"{vis}const {name}: {render_type(v['type'])}{_value(v.get('value'))}"
    if kind == "assoc_type":
        return _render_assoc_type(name, v)
    if kind == "variant":
        return attrs + _render_variant(name, v, lookup)
    if kind == "struct_field":
        return f"{vis}{name}: {render_type(v)}"
    if kind == "primitive":
        return f"primitive {name}"
    raise ValueError(f"no declaration for item kind {kind!r}")


def _value(expr: Json) -> str:
    if not expr or expr == "_" or len(str(expr)) > 80:
        return ""
    return f" = {expr}"


def _generics_and_where(v: Json) -> str:
    generics = v.get("generics", {})
    return render_generic_params(generics.get("params", [])) + render_where(generics)


def _block(lines: list[str]) -> str:
    """` { a, b }` as rustdoc lays it out: one line per member, or `{ }` when empty."""
    if not lines:
        return " { }"
    if lines == ["/* private fields */"]:
        return " { /* private fields */ }"
    return " {\n" + "".join(f"    {line}\n" for line in lines) + "}"


def _field_lines(ids: Sequence[Json], lookup: Lookup, stripped: bool) -> list[str]:
    lines = []
    for field_id in ids[:_MAX_LISTED]:
        field = lookup(field_id)
        if field is not None:
            vis = render_visibility(field.get("visibility", "default"))
            lines.append(f"{vis}{field['name']}: {render_type(field['inner']['struct_field'])},")
    if len(ids) > _MAX_LISTED:
        lines.append(f"// {len(ids) - _MAX_LISTED} more fields")
    if stripped:
        lines.append("/* private fields */")
    return lines


def _render_struct(name: str, s: Json, vis: str, lookup: Lookup) -> str:
    kind, v = tagged(s["kind"])
    generics = s.get("generics", {})
    params = render_generic_params(generics.get("params", []))
    where = render_where(generics)
    if kind == "unit":
        return f"{vis}struct {name}{params}{where};"
    if kind == "tuple":
        fields = [lookup(field_id) if field_id is not None else None for field_id in v]
        if fields and all(f is None for f in fields):
            shown = "/* private fields */"
        else:  # as rustdoc does: a hidden field among visible ones is `_`
            shown = ", ".join(
                "_"
                if f is None
                else render_visibility(f.get("visibility", "default"))
                + render_type(f["inner"]["struct_field"])
                for f in fields
            )
        return f"{vis}struct {name}{params}({shown}){where};"
    lines = _field_lines(v.get("fields", []), lookup, v.get("has_stripped_fields", False))
    return f"{vis}struct {name}{params}{where}" + _block(lines)


def _render_enum(name: str, e: Json, vis: str, lookup: Lookup) -> str:
    lines = []
    variants = e.get("variants", [])
    for variant_id in variants[:_MAX_LISTED]:
        variant = lookup(variant_id)
        if variant is not None:
            lines.append(
                _render_variant(variant["name"], variant["inner"]["variant"], lookup) + ","
            )
    if len(variants) > _MAX_LISTED:
        lines.append(f"// {len(variants) - _MAX_LISTED} more variants")
    if e.get("has_stripped_variants"):
        lines.append("// some variants omitted")
    return f"{vis}enum {name}{_generics_and_where(e)}" + _block(lines)


def _render_variant(name: str, variant: Json, lookup: Lookup) -> str:
    kind, v = tagged(variant["kind"])
    text = name
    if kind == "tuple":
        types = []
        for field_id in v:
            field = lookup(field_id) if field_id is not None else None
            types.append("_" if field is None else render_type(field["inner"]["struct_field"]))
        text += f"({', '.join(types)})"
    elif kind == "struct":
        fields = []
        for field_id in v.get("fields", []):
            field = lookup(field_id)
            if field is not None:
                fields.append(f"{field['name']}: {render_type(field['inner']['struct_field'])}")
        if v.get("has_stripped_fields"):
            fields.append("/* private fields */")
        text += " { " + ", ".join(fields) + " }" if fields else " {}"
    discriminant = variant.get("discriminant")
    if discriminant:
        text += f" = {discriminant.get('expr', discriminant.get('value'))}"
    return text


def _render_trait(name: str, t: Json, vis: str) -> str:
    qualifiers = ("unsafe " if t.get("is_unsafe") else "") + ("auto " if t.get("is_auto") else "")
    generics = t.get("generics", {})
    head = f"{vis}{qualifiers}trait {name}{render_generic_params(generics.get('params', []))}"
    if t.get("bounds"):
        head += f": {render_bounds(t['bounds'])}"
    return head + render_where(generics) + (" { ... }" if t.get("items") else " { }")


def _render_assoc_type(name: str, v: Json) -> str:
    generics = v.get("generics", {})
    text = f"type {name}{render_generic_params(generics.get('params', []))}"
    if v.get("bounds"):
        text += f": {render_bounds(v['bounds'])}"
    if v.get("type") is not None:
        text += f" = {render_type(v['type'])}"
    return text + render_where(generics)


def _render_proc_macro(name: str, v: Json) -> str:
    kind = v.get("kind")
    if kind == "derive":
        helpers = v.get("helpers") or []
        extra = (
            f"\n// helper attributes: {', '.join(f'#[{h}]' for h in helpers)}" if helpers else ""
        )
        return f"#[derive({name})]{extra}"
    if kind == "attr":
        return f"#[{name}]"
    return f"{name}!() {{ /* proc-macro */ }}"
