"""The dashboard's SVG charts: labels fit their column and stay escaped."""

from rdz.core.charts import fill_bars, horizontal_bars


def test_a_long_label_is_cut_with_an_ellipsis_and_kept_whole_in_its_tooltip():
    svg = horizontal_bars(items=[("Démonstration panneaux solaires", 53), ("PV", 3)], title="Par formulaire")
    assert ">Démonstration panneaux so…</text>" in svg
    assert "<title>Démonstration panneaux solaires</title>" in svg
    assert ">PV</text>" in svg


def test_labels_are_escaped_even_when_cut():
    svg = fill_bars(items=[("<b>Énergie Verte Île-de-France</b> PV 75, 77", 3, 35, True)], title="Remplissage")
    assert "<b>" not in svg
    assert "&lt;b&gt;Énergie Verte Île-de-Franc…</text>" in svg
