"""Figures fitted for the model: scaled to the long edge, re-encoded smaller, within a result's
image budget; what was left out named with the call that returns it. Pure rules on real images
(drawn with matplotlib and Pillow), then through the server against a real kernel."""

from __future__ import annotations

import base64
import io
import json
import re

import hypothesis.strategies as st
import matplotlib
import numpy as np
from conftest import Assistant, IdeKernel, images, texts
from hypothesis import HealthCheck, given, settings
from PIL import Image as PILImage

from ipython_mcp.rendering import FigureLeftOut, Image, Text
from ipython_mcp.rendering.figures import SMALLEST_EDGE, fit_figures, fit_image

matplotlib.use("agg")
import matplotlib.pyplot as plt

CONSERVATIVE_LIMIT = 25_000
"""Tokens of a result, counting every character (base64 included) / 4, that a client may refuse past."""


def chart(width_in: float, height_in: float, dpi: int = 100, points: int = 200) -> Image:
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=dpi)
    rng = np.random.default_rng(1)
    ax.plot(np.cumsum(rng.normal(size=points)))
    ax.set_title("revenue")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return Image(base64.b64encode(buffer.getvalue()).decode(), "image/png", figure=1)


def photo(size: int) -> Image:
    rng = np.random.default_rng(2)
    x = np.linspace(0, 1, size)
    smooth = (np.sin(x[:, None] * 17) + np.cos(x[None, :] * 23))[..., None] * np.array([0.3, 0.5, 0.7])
    pixels = smooth + rng.normal(scale=0.3, size=(size, size, 3))
    pixels = (pixels - pixels.min()) / (pixels.max() - pixels.min())
    buffer = io.BytesIO()
    PILImage.fromarray((pixels * 255).astype("uint8")).save(buffer, "PNG")
    return Image(base64.b64encode(buffer.getvalue()).decode(), "image/png", figure=1)


def opened(image: Image) -> PILImage.Image:
    return PILImage.open(io.BytesIO(base64.b64decode(image.data)))


def test_a_large_figure_is_scaled_to_the_long_edge_and_says_how_large_it_was() -> None:
    big = chart(40, 30)  # 4000x3000
    fitted = fit_image(big, 1568)
    assert fitted.drawn == (4000, 3000)
    assert (fitted.width, fitted.height) == (1568, 1176) == opened(fitted).size
    assert len(fitted.data) < len(big.data) / 2
    assert fitted.figure == 1


def test_a_figure_within_the_edge_is_reencoded_smaller_without_scaling() -> None:
    default = chart(6.4, 4.8)
    fitted = fit_image(default, 1568)
    assert fitted.drawn is None and (fitted.width, fitted.height) == (640, 480)
    assert fitted.mime_type == "image/png" and len(fitted.data) < 0.7 * len(default.data)
    # No visible loss: at most 256 colours, each pixel within a few levels of the drawing.
    before = np.asarray(opened(default).convert("RGB"), dtype=int)
    after = np.asarray(opened(fitted).convert("RGB"), dtype=int)
    assert np.abs(before - after).mean() < 2


def test_a_photo_like_image_becomes_a_jpeg_and_a_chart_never_does() -> None:
    assert fit_image(photo(900), 1568).mime_type == "image/jpeg"
    assert fit_image(chart(20, 15), 1568).mime_type == "image/png"


def test_a_small_figure_or_one_that_does_not_decode_is_left_as_drawn() -> None:
    small = chart(1, 1)
    fitted = fit_image(small, 1568)
    assert (fitted.data, fitted.width, fitted.height, fitted.drawn) == (small.data, 100, 100, None)
    broken = Image(base64.b64encode(b"not an image").decode(), "image/png", figure=3)
    assert fit_image(broken, 1568).data == broken.data


def test_figures_go_in_order_within_the_budget_and_the_rest_are_named() -> None:
    figures = [Text("before")] + [Image(chart(6.4, 4.8).data, "image/png", figure=n) for n in range(1, 13)]
    fitted = fit_figures(figures, long_edge=1568, budget=72_000)
    shown = [block for block in fitted if isinstance(block, Image)]
    left_out = [block for block in fitted if isinstance(block, FigureLeftOut)]
    assert fitted[0] == Text("before")
    assert 2 <= len(shown) < 12 and sum(len(image.data) for image in shown) <= 72_000
    assert [image.figure for image in shown] == list(range(1, len(shown) + 1))
    assert [figure.figure for figure in left_out] == list(range(len(shown) + 1, 13))
    assert {(figure.width, figure.height) for figure in left_out} == {(640, 480)}


def test_a_figure_over_the_budget_is_made_smaller_before_it_is_left_out() -> None:
    [shrunk] = fit_figures([chart(40, 40, points=20_000)], long_edge=1568, budget=40_000)
    assert isinstance(shrunk, Image) and len(shrunk.data) <= 40_000
    assert SMALLEST_EDGE <= max(shrunk.width, shrunk.height) < 1568 and shrunk.drawn == (4000, 4000)
    [left_out] = fit_figures([photo(1500)], long_edge=1568, budget=10_000)
    assert left_out == FigureLeftOut(1, 1500, 1500, left_out.chars) and left_out.chars > 10_000


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 30)), min_size=1, max_size=4),
    long_edge=st.integers(64, 2000),
    budget=st.integers(10_000, 200_000),
)
def test_fitted_figures_never_exceed_their_budgets(
    sizes: list[tuple[int, int]], long_edge: int, budget: int
) -> None:
    figures = [chart(w, h, dpi=50) for w, h in sizes]
    fitted = fit_figures(figures, long_edge=long_edge, budget=budget)
    shown = [block for block in fitted if isinstance(block, Image)]
    assert len(fitted) == len(figures)
    assert sum(len(image.data) for image in shown) <= budget
    for image in shown:
        assert max(opened(image).size) <= long_edge


async def connect(assistant: Assistant, kernel: IdeKernel) -> None:
    await assistant.text("connect_to_kernel", connection_file=str(kernel.path))


def conservative(result: object) -> int:
    """What a client counting every character of the result (base64 included) takes it for."""
    return len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True))) // 4  # type: ignore[attr-defined]


async def test_a_4000_px_figure_comes_back_at_1568_px_and_whole_on_request(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    code = (
        "import matplotlib.pyplot as plt, numpy as np\n"
        "fig, ax = plt.subplots(figsize=(40, 40), dpi=100)\n"
        "ax.scatter(*np.random.default_rng(0).normal(size=(2, 3000))); ax.set_title('big'); plt.show()"
    )
    result = await assistant.call("execute_code", code=code)
    [image] = images(result)
    width, height = opened(Image(image.data, image.mime_type)).size
    assert max(width, height) <= 1568
    execution_id = texts(result).split("read_output('")[1].split("'")[0]
    assert "1 figure scaled 3" in texts(result) and f"read_output('{execution_id}', figure=1, max_px=N)" in texts(result)
    assert conservative(result) < CONSERVATIVE_LIMIT
    whole = await assistant.call("read_output", execution_id=execution_id, figure=1, max_px=2500)
    [larger] = images(whole)
    assert max(opened(Image(larger.data, larger.mime_type)).size) == 2500
    assert "as drawn, shown at" in texts(whole)
    missing = await assistant.error("read_output", execution_id=execution_id, figure=2)
    assert f"Execution {execution_id} has figures 1 to 1." in missing
    both = await assistant.error("read_output", execution_id=execution_id, figure=1, pattern="x")
    assert "pass one of them" in both


async def test_twelve_figures_in_one_cell_stay_within_the_budget_and_the_rest_are_listed(
    assistant: Assistant, shared_kernel: IdeKernel
) -> None:
    await connect(assistant, shared_kernel)
    code = (
        "import matplotlib.pyplot as plt\n"
        "for i in range(12):\n"
        "    plt.figure(); plt.plot([i, 3, 2, 5]); plt.title(f'figure {i}'); plt.show()"
    )
    result = await assistant.call("execute_code", code=code)
    shown = images(result)
    assert 2 <= len(shown) < 12
    assert sum(len(image.data) for image in shown) <= 72_000
    text = texts(result)
    listed = rf"\[{12 - len(shown)} figures \({len(shown) + 1}-12\), \d+x\d+( each| to \d+x\d+), left out"
    assert re.search(listed, text), text
    assert "figure=N) returns figure N" in text
    assert conservative(result) < CONSERVATIVE_LIMIT
    execution_id = text.split("read_output('")[1].split("'")[0]
    last = await assistant.call("read_output", execution_id=execution_id, figure=12)
    assert len(images(last)) == 1 and "Figure 12 of" in texts(last)


async def test_the_users_large_figure_in_history_is_fitted(assistant: Assistant, shared_kernel: IdeKernel) -> None:
    await connect(assistant, shared_kernel)
    await shared_kernel.ide.run(
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(30, 20), dpi=100); ax.plot(range(50)); plt.show()"
    )
    result = await assistant.call("get_history", n=3)
    [figure] = images(result)
    assert max(opened(Image(figure.data, figure.mime_type)).size) <= 1568
    assert re.search(r"\(drawn 2\d\d\dx1\d\d\d, shown at 1568x10\d\d\)", texts(result)), texts(result)


def encoded(img: PILImage.Image, figure: int = 1) -> Image:
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return Image(base64.b64encode(buffer.getvalue()).decode(), "image/png", figure=figure)


def test_figures_that_cannot_be_read_or_scaled_are_named_never_sent() -> None:
    bomb = encoded(PILImage.new("1", (15_000, 15_000)), figure=1)  # 27 kB, 225 megapixels
    broken = Image(base64.b64encode(b"\x89PNG\r\n\x1a\nnot really").decode(), "image/png", figure=2)
    fitted = fit_figures([bomb, broken], long_edge=1568, budget=72_000)
    assert fitted == [
        FigureLeftOut(1, 15_000, 15_000, len(bomb.data), "too large"),
        FigureLeftOut(2, 0, 0, len(broken.data), "unreadable"),
    ]


def test_a_16_bit_grey_figure_keeps_its_greys() -> None:
    gradient = PILImage.linear_gradient("L").resize((2000, 2000)).convert("I").point(lambda v: v * 257)
    fitted = fit_image(encoded(gradient.convert("I;16")), 1568)
    greys = np.asarray(opened(fitted).convert("L"), dtype=float)
    assert 100 < greys.mean() < 155 and greys.min() < 10 and greys.max() > 245
