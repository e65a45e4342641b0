#!/usr/bin/env python3
"""Generate kb/warranty-claim-form.pdf, the sample PDF document of the demo
knowledge base (Larkfield Goods warranty claim form).

Uses only the Python standard library: the PDF objects are written by hand
(uncompressed content streams, the standard Helvetica Type1 fonts, a correct
cross-reference table). Output is deterministic, so regenerating the file
without changing this script produces identical bytes.

Usage: python3 scripts/make-sample-pdf.py [OUTPUT_PATH]
"""

import os
import sys

PAGE_W, PAGE_H = 612, 792  # US Letter, in points
MARGIN_X = 72
TOP_Y = 720
BOTTOM_Y = 72
TEXT_W = PAGE_W - 2 * MARGIN_X

# Helvetica advance widths (1/1000 em) for ASCII 32..126, from the standard AFM.
_HELV_WIDTHS = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
]

# The document. Each entry is (style, text); styles: title, subtitle, h2, p,
# bullet, field, gap. Text is plain ASCII.
CONTENT = [
    ("title", "Warranty Claim Form"),
    ("subtitle", "Larkfield Goods - Portland, Oregon - https://larkfield.example/help/warranty-claim-form"),
    ("p", "Use this form to claim under the Larkfield Goods 1-year warranty against manufacturing "
          "defects, or to request a repair through our lifetime repair programme for leather bags. "
          "You do not have to use the form: you can also start a claim by email, live chat or with "
          "our assistant. The form simply lists everything we need, so that we can assess your claim "
          "in one go."),
    ("h2", "What the warranty covers"),
    ("p", "Shoes, bags and home goods (such as bedding, towels, kitchen textiles and ceramics) are "
          "covered for 1 year from delivery against manufacturing defects: faults in materials or "
          "workmanship that appear during normal use, such as a sole separating from a shoe, a bag "
          "strap coming unstitched, or a seam unravelling on a towel. If we confirm a defect we "
          "repair, replace or refund the item."),
    ("p", "Not covered: normal wear and tear, misuse (including not following the care "
          "instructions), and accidents such as drops, spills, burns or pet damage. Items that "
          "arrived damaged, defective or wrong should be reported within 30 days of delivery "
          "instead; no form is needed for those."),
    ("p", "Lifetime repair programme: Larkfield leather bags can be repaired for as long as you own "
          "them, for a small fee that we quote before any work starts. Repairs of manufacturing "
          "defects within the first year are free."),
    ("h2", "How to file a warranty claim"),
    ("bullet", "1. Find your order number. It looks like LF-100234 and is in your order confirmation "
               "email and in your account under Orders. If you bought the item as a guest, the "
               "email address used for the order will do."),
    ("bullet", "2. Take clear photos: one of the whole item, and close-ups of the defect. For shoes, "
               "include the soles. For bags, include the inside label."),
    ("bullet", "3. Fill in the details on page 2 of this form, or put the same information in an "
               "email."),
    ("bullet", "4. Send the form and photos to help@larkfield.example with the subject line "
               "\"Warranty claim\" and your order number. You can also upload them in live chat."),
    ("bullet", "5. We reply within 1 business day. If we need to inspect the item, we email you a "
               "prepaid return label and an RMA number. Please do not send items without an RMA "
               "number, as we may not be able to match them to your claim."),
    ("bullet", "6. Once we have confirmed the defect, we repair, replace or refund the item and "
               "email you to confirm."),
    ("h2", "What to include"),
    ("bullet", "- Your name, email address and phone number"),
    ("bullet", "- Order number (LF- followed by 6 digits) and approximate delivery date"),
    ("bullet", "- Product name, size and colour"),
    ("bullet", "- A description of the problem and when it started"),
    ("bullet", "- Photos of the whole item and of the defect"),
    ("bullet", "- Whether you would prefer a repair, a replacement or a refund"),
    ("pagebreak", ""),
    ("title", "Claim details"),
    ("subtitle", "Please complete in capital letters, or type your answers into an email."),
    ("field", "Full name: ____________________________________________________________"),
    ("field", "Email address used for the order: ___________________________________________"),
    ("field", "Phone number: ________________________________________________________"),
    ("field", "Order number (LF-______): ____________________  Delivery date: ______________"),
    ("field", "Product name, size and colour: _________________________________________"),
    ("field", "Describe the problem and when it started: ________________________________"),
    ("field", "______________________________________________________________________"),
    ("field", "______________________________________________________________________"),
    ("field", "Preferred outcome (circle one):   Repair    Replacement    Refund"),
    ("field", "Number of photos attached: ______"),
    ("h2", "Where to send your claim"),
    ("p", "By email (fastest): help@larkfield.example. Attach this form and your photos, and put "
          "your order number in the subject line. Customer support: +1 (503) 555-0142, "
          "Monday to Friday 8am to 8pm Pacific, Saturday 9am to 5pm Pacific, closed Sunday and "
          "US federal holidays."),
    ("p", "By post: Larkfield Goods, Warranty Claims, 4820 NW Larkfield Way, Portland, OR 97210, "
          "USA. Postal claims take longer to process; please include printed photos and an email "
          "address where we can reach you."),
    ("p", "Sending an item for inspection or repair: only after we have emailed you an RMA number. "
          "Write the RMA number clearly on the outside of the parcel and use the prepaid label we "
          "send you. Items go to the returns and repairs desk at the same Portland address."),
    ("p", "Privacy: we use the details on this form only to handle your claim. Support "
          "conversations are kept for 2 years and order records for 7 years. See our privacy policy "
          "at https://larkfield.example/help/privacy-policy."),
]

STYLES = {
    # style: (font resource, size, leading, space before, indent)
    "title": ("F2", 20, 26, 0, 0),
    "subtitle": ("F1", 9, 14, 0, 0),
    "h2": ("F2", 13, 18, 10, 0),
    "p": ("F1", 10.5, 14, 6, 0),
    "bullet": ("F1", 10.5, 14, 3, 12),
    "field": ("F1", 10.5, 14, 12, 0),
}


def text_width(s, size):
    return sum(_HELV_WIDTHS[ord(c) - 32] for c in s) * size / 1000.0


def wrap(text, size, width):
    words = text.split(" ")
    lines, cur = [], ""
    for w in words:
        cand = w if not cur else cur + " " + w
        if text_width(cand, size) <= width or not cur:
            cur = cand
        else:
            lines.append(cur)
            cur = w
    if cur:
        lines.append(cur)
    return lines


def pdf_string(s):
    for c in s:
        if not 32 <= ord(c) <= 126:
            raise ValueError("non-ASCII character %r in %r" % (c, s))
    return "(" + s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def kerned_tj(s):
    """Show a title with a TJ array, tightening the pair 'W','a' like a kerning table would."""
    parts, out = s.split("Wa"), []
    for i, part in enumerate(parts):
        if i:
            out.append("%s 60 %s" % (pdf_string("W"), pdf_string("a" + part)))
        else:
            out.append(pdf_string(part))
    # Merge: first element already contains the text before "Wa".
    return "[" + " ".join(x for x in out if x != "()") + "] TJ"


def layout(content):
    """Return a list of pages; each page is a list of content-stream lines."""
    pages, ops = [], []
    y = TOP_Y
    prev_x, prev_y = 0.0, 0.0  # current text line origin (Td moves are relative)
    started = False

    def new_page():
        nonlocal ops, y, prev_x, prev_y, started
        if started:
            ops.append("ET")
            pages.append(ops)
        ops = ["BT"]
        y = TOP_Y
        prev_x, prev_y = 0.0, 0.0
        started = True

    new_page()
    first_on_page = True
    for style, text in content:
        if style == "pagebreak":
            new_page()
            first_on_page = True
            continue
        font, size, leading, before, indent = STYLES[style]
        if not first_on_page:
            y -= before
        first_on_page = False
        lines = wrap(text, size, TEXT_W - indent) if style not in ("title",) else [text]
        ops.append("/%s %g Tf" % (font, size))
        for i, line in enumerate(lines):
            if y - leading < BOTTOM_Y:
                new_page()
                ops.append("/%s %g Tf" % (font, size))
            y -= leading
            # continuation lines of a numbered/dashed bullet hang under the text
            x = MARGIN_X + indent + (12 if (style == "bullet" and i > 0) else 0)
            ops.append("%g %g Td" % (x - prev_x, y - prev_y))
            prev_x, prev_y = x, y
            if style == "title":
                ops.append(kerned_tj(line))
            else:
                ops.append(pdf_string(line) + " Tj")
    ops.append("ET")
    pages.append(ops)
    # footer with page numbers
    total = len(pages)
    for n, page in enumerate(pages, 1):
        footer = "Larkfield Goods warranty claim form - page %d of %d" % (n, total)
        page.extend([
            "BT", "/F1 8 Tf", "%g %g Td" % (MARGIN_X, 40), pdf_string(footer) + " Tj", "ET",
        ])
    return pages


def build_pdf(pages):
    objects = []  # list of bytes, object number = index + 1

    def add(body):
        objects.append(body)
        return len(objects)

    catalog = add(None)  # placeholder, filled later
    pages_obj = add(None)
    f1 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    f2 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    page_ids = []
    for ops in pages:
        stream = ("\n".join(ops) + "\n").encode("ascii")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream")
        page = add((
            "<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
            "/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
            % (pages_obj, PAGE_W, PAGE_H, f1, f2, content)
        ).encode("ascii"))
        page_ids.append(page)
    objects[pages_obj - 1] = (
        "<< /Type /Pages /Kids [%s] /Count %d >>"
        % (" ".join("%d 0 R" % p for p in page_ids), len(page_ids))
    ).encode("ascii")
    objects[catalog - 1] = ("<< /Type /Catalog /Pages %d 0 R >>" % pages_obj).encode("ascii")
    info = add(
        b"<< /Title (Larkfield Goods Warranty Claim Form) /Author (Larkfield Goods) "
        b"/Subject (How to file a warranty claim) /Creator (scripts/make-sample-pdf.py) "
        b"/CreationDate (D:20260915000000Z) >>"
    )

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += (
        b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, catalog, info, xref_at)
    )
    return bytes(out)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "kb", "warranty-claim-form.pdf")
    data = build_pdf(layout(CONTENT))
    with open(path, "wb") as f:
        f.write(data)
    print("wrote %s (%d bytes)" % (path, len(data)))


if __name__ == "__main__":
    main()
