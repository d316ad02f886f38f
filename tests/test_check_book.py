"""scripts/check_book.py on small hand-written HTML trees (no book build needed)."""


import pytest
from conftest import load_script

check_book = load_script("check_book")


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body><main>{body}</main></body></html>"


@pytest.fixture
def book(tmp_path):
    """A two-page book with a stylesheet, an image and a download, all consistent."""
    (tmp_path / "chapters").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_images").mkdir()
    (tmp_path / "_static" / "theme.css").write_text("body { background: url(bg.png); }")
    (tmp_path / "_static" / "bg.png").write_bytes(b"png")
    (tmp_path / "_images" / "fig.png").write_bytes(b"png")
    (tmp_path / "index.html").write_text(page(
        '<a href="chapters/one.html#sec-b">one</a> <a href="#">top</a> <a id="top"></a>'
        '<a href="https://github.com/x/y">repo</a> <a href="mailto:a@b.c">mail</a>',
        head='<link rel="stylesheet" href="_static/theme.css">'
             '<link rel="canonical" href="https://example.org/index.html">'))
    (tmp_path / "chapters" / "one.html").write_text(page(
        '<section id="sec-b"><img src="../_images/fig.png"></section>'
        '<a href="../index.html#top">back</a> <a href="#sec-b">here</a> <a href="../">root</a>'
        '<img src="data:image/png;base64,AAAA">'))
    return tmp_path


def problems(root):
    check_book.parse.cache_clear()
    return check_book.check(root)[0]


def test_a_consistent_book_has_no_problems(book):
    assert problems(book) == []
    assert check_book.main([str(book)]) == 0


def test_external_links_are_listed_not_problems(book):
    _, external = check_book.check(book)
    assert external == ["index.html: https://github.com/x/y"]


def test_missing_page_and_missing_anchor_are_found(book):
    one = book / "chapters" / "one.html"
    one.write_text(one.read_text().replace("</main>", '<a href="two.html">x</a>'
                                           '<a href="../index.html#nowhere">y</a></main>'))
    found = problems(book)
    assert any("two.html: no such file chapters/two.html" in p for p in found)
    assert any("index.html has no anchor #nowhere" in p for p in found)
    assert check_book.main([str(book)]) == 1


def test_resources_from_outside_the_book_are_found(book):
    index = book / "index.html"
    index.write_text(index.read_text().replace(
        "</head>", '<script src="https://cdn.example.com/x.js"></script>'
                   '<link rel="stylesheet" href="//fonts.example.com/f.css"></head>'))
    (book / "_static" / "theme.css").write_text(
        '@import "https://fonts.example.com/css"; a { background: url(bg.png) }')
    found = problems(book)
    assert any("<script> loads https://cdn.example.com/x.js" in p for p in found)
    assert any("<link> loads //fonts.example.com/f.css" in p for p in found)
    assert any("theme.css: loads https://fonts.example.com/css" in p for p in found)


def test_missing_local_image_is_found(book):
    (book / "_images" / "fig.png").unlink()
    assert any("<img> ../_images/fig.png: no such file" in p for p in problems(book))


def test_localhost_urls_count_as_inside():
    assert not check_book.is_external("http://127.0.0.1:8000/x.js")
    assert not check_book.is_external("data:image/png;base64,AAAA")
    assert check_book.is_external("https://unpkg.com/thebe")
    assert check_book.is_external("//cdn.example.com/x.js")


def test_no_built_book_is_an_error(tmp_path, capsys):
    assert check_book.main([str(tmp_path)]) == 2
    assert "no built book" in capsys.readouterr().err
