from enclosure.shadow import Action, compare, render_html


def test_the_html_report_is_self_contained_and_escaped():
    report = compare(
        [Action("c1", "<script>", {"a": 1})], [Action("c1", "send", {})], ran={"c1"}
    )
    html = render_html(report)
    assert html.startswith("<!doctype html>")
    assert "<svg" in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")
