"""One document, two formats: Open311 responses rendered as JSON or XML."""

import json
import re
import xml.etree.ElementTree as ET

from django.http import HttpResponse

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

# In XML a list needs a name for its items; these are the spec's.
LIST_ITEM_TAGS = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}

# Characters XML 1.0 cannot carry even escaped; a report description typed into another channel
# may contain them, and one would make the whole document unparseable.
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Open311Error(Exception):
    """A request the API refuses: rendered as an Open311 error with this HTTP status."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


def _xml_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_ILLEGAL.sub("", str(value))


def _xml_append(parent: ET.Element, tag: str, value) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, child in value.items():
            _xml_append(element, key, child)
    elif isinstance(value, list):
        for child in value:
            _xml_append(element, LIST_ITEM_TAGS[tag], child)
    else:
        element.text = _xml_text(value)


def to_xml(*, data: dict | list, root: str, item: str | None = None) -> bytes:
    """The document as XML: a dict's keys become children of root, a list's items `item`s."""
    element = ET.Element(root)
    if isinstance(data, list):
        for child in data:
            _xml_append(element, item, child)
    else:
        for key, child in data.items():
            _xml_append(element, key, child)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def render(
    *, fmt: str, data: dict | list, root: str, item: str | None = None, status: int = 200
) -> HttpResponse:
    """The response in the format the URL asked for (`json` or `xml`)."""
    if fmt == "xml":
        body = to_xml(data=data, root=root, item=item)
    else:
        body = json.dumps(data, ensure_ascii=False).encode()
    return HttpResponse(body, status=status, content_type=FORMATS[fmt])


def error_response(*, fmt: str, status: int, description: str) -> HttpResponse:
    """An Open311 error: [{"code", "description"}] or <errors><error>...</error></errors>."""
    return render(
        fmt=fmt if fmt in FORMATS else "json",
        data=[{"code": status, "description": description}],
        root="errors",
        item="error",
        status=status,
    )
