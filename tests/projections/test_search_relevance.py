"""Search relevance on both stores: a fixed catalogue and a table of queries with their answers.

Each case names the hits that must come first, in groups (a group's hits in any order, the
groups in order), whether those are all the hits, and hits that must not appear at all. The
catalogue holds near-miss words on purpose (Shampoo, Shirt, Shears, Shorts for "shoe"). It is
written straight into each view through one unit of work, once per store for the module.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from projections.catalog_search.projection import Listing
from projections.catalog_search.search import SearchQuery
from tests.projections.catalog_fixture import SearchView, opensearch_view, postgres_view

pytestmark = pytest.mark.postgres

CATALOGUE = """
run_shoes    | Running Shoes          | Lightweight trainers with a cushioned sole for road running
trail_shoes  | Trail Running Shoes    | Grippy lugged outsole for muddy paths
derby        | Leather Derby Shoe     | Classic lace-up in polished calf leather
shoe_rack    | Shoe Rack              | Three-tier bamboo rack that holds twelve pairs
shoelaces    | Waxed Shoelaces        | Round cotton laces in five colours
polish       | Shoe Polish Kit        | Black and brown wax with a horsehair brush
boots        | Hiking Boots           | Waterproof leather boots with ankle support
sandals      | Leather Sandals        | Open-toe sandals with a cork footbed
slippers     | Wool Slippers          | Felted slippers for cold floors
shampoo      | Shampoo Bar            | Solid shampoo for dry hair, plastic free
shirt        | Linen Shirt            | Relaxed fit shirt in washed linen
tshirt       | Cotton T-Shirt         | Crew neck tee in organic cotton
shears       | Pruning Shears         | Bypass shears for roses and shrubs
shorts       | Running Shorts         | Breathable shorts with a zip pocket
socks        | Running Socks          | Cushioned socks for long runs
shower       | Shower Gel             | Citrus gel in a refillable bottle
shovel       | Snow Shovel            | Wide blade with a steel wear strip
shelf        | Floating Shelf         | Oak wall shelf with hidden brackets
sheet        | Cotton Bed Sheet       | Percale weave, fits deep mattresses
kettle       | Copper Kettle          | Whistling stovetop kettle for tea
teapot       | Ceramic Teapot         | Glazed stoneware pot for loose leaf
mug          | Stoneware Mug          | Speckled glaze, holds a large coffee
knife        | Chef Knife             | Forged steel blade with riveted handle
board        | Walnut Cutting Board   | End grain board with oiled finish
pan          | Cast Iron Pan          | Preseasoned skillet for hob and oven
blender      | Countertop Blender     | Six speeds and a glass jug
lamp         | Brass Desk Lamp        | Adjustable arm lamp with fabric shade
floor_lamp   | Floor Lamp             | Arc lamp with a linen shade
desk         | Oak Standing Desk      | Electric height adjustable desk
chair        | Office Chair           | Mesh back chair with lumbar support
pen          | Fountain Pen           | Steel nib pen with piston filler
notebook     | Dotted Notebook        | Lay-flat binding, numbered pages
backpack     | Laptop Backpack        | Padded sleeve for a fifteen inch laptop
umbrella     | Compact Umbrella       | Folds to fit a coat pocket
candle       | Soy Candle             | Hand poured with a cotton wick
towel        | Bath Towel             | Heavy terry loops in cotton
soap         | Olive Oil Soap         | Cold process bar for sensitive skin
trowel       | Garden Trowel          | Stainless hand trowel for planting bulbs
can          | Watering Can           | Galvanised can with brass rose
planter      | Cedar Planter          | Raised planter box in cedar wood
hose         | Garden Hose            | Kink free hose with a spray nozzle
gloves       | Gardening Gloves       | Thorn proof gloves with leather palms
jacket       | Rain Jacket            | Packable shell with taped seams
jeans        | Slim Jeans             | Stretch denim in indigo
scarf        | Wool Scarf             | Merino scarf with fringed ends
hat          | Sun Hat                | Wide brim straw hat
headphones   | Wireless Headphones    | Over ear with noise cancelling
speaker      | Bluetooth Speaker      | Splash proof with twelve hour battery
mat          | Yoga Mat               | Non slip natural rubber
mat_bag      | Yoga Mat Bag           | Canvas carrier with a shoulder strap
travel_mat   | Travel Yoga Mat        | Foldable thin mat for trips
bottle       | Steel Water Bottle     | Double walled, keeps drinks cold
"""
"""key | title | description"""


@dataclass(frozen=True)
class Case:
    """A query, the hits that come first (ordered groups), and the hits that must not appear."""

    text: str
    first: tuple[frozenset[str], ...]
    only: bool = False
    absent: frozenset[str] = field(default_factory=frozenset)

    def __str__(self) -> str:
        return self.text


def case(text: str, *first: str | set[str], only: bool = False, absent: str = "") -> Case:
    """A Case; each of first is one key or a set of keys that may come in any order."""
    groups = tuple(frozenset({g} if isinstance(g, str) else g) for g in first)
    return Case(text, groups, only, frozenset(absent.split()))


NEAR_SHOE = "shampoo shirt tshirt shears shorts shower shovel shelf sheet socks shoelaces"
CASES = (
    case(
        "shoe",
        {"derby", "shoe_rack", "polish"},
        {"run_shoes", "trail_shoes"},
        only=True,
        absent=NEAR_SHOE,
    ),
    case("shoes", {"run_shoes", "trail_shoes"}, {"derby", "shoe_rack", "polish"}, only=True),
    case("runnnig shoes", "run_shoes", "trail_shoes", only=True),
    case("running", {"run_shoes", "trail_shoes", "shorts", "socks"}, only=True),
    case("linen shirt", "shirt", only=True),
    case("linen", "shirt", "floor_lamp", only=True),
    case("kettel", "kettle", only=True),
    case("walnt", "board", only=True),
    case("lamps", {"lamp", "floor_lamp"}, only=True),
    case("brass lamb", "lamp", only=True),
    case("yoga mat", "mat", {"mat_bag", "travel_mat"}, only=True),
    case("leather boots", "boots", only=True),
    case("shower", "shower", only=True),
    case("hat", "hat", only=True),
    case("sheers", "shears", absent=NEAR_SHOE.replace("shears", "")),
    case("pruning", "shears", only=True),
    case("xylophone", only=True),
)


@pytest.fixture(scope="module", params=["postgres", "opensearch"])
def catalogue(request: pytest.FixtureRequest, postgres_server: str) -> Iterator[SearchView]:
    """A view of one store holding the catalogue, loaded once for the module."""
    cleanups: list[Callable[[], None]] = []
    if request.param == "postgres":
        view: SearchView = postgres_view(postgres_server, cleanups)
    else:
        view = opensearch_view(request.getfixturevalue("opensearch_server"), cleanups)
    view.products = {}
    seller = uuid.uuid4()
    start = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    rows = [[cell.strip() for cell in line.split("|")] for line in CATALOGUE.strip().splitlines()]
    with view.unit_of_work() as unit:
        for n, (key, title, description) in enumerate(rows):
            product = uuid.uuid4()
            view.products[product] = key
            listing = Listing(product, seller, title, description, "misc", 1000 + n, "EUR", start)
            unit.list_product(listing, 0)
        unit.track("catalog", 0, len(rows))
    yield view
    for cleanup in reversed(cleanups):
        cleanup()


def found(view: SearchView, text: str) -> list[str]:
    """The keys of every hit of a relevance search for text, best first."""
    result = view.search(SearchQuery(text=text, limit=100))
    return [view.products[hit.id] for hit in result.hits]


@pytest.mark.parametrize("wanted", CASES, ids=str)
def test_the_query_finds_what_a_shopper_means(catalogue: SearchView, wanted: Case) -> None:
    hits = found(catalogue, wanted.text)
    shown = f"{wanted.text!r} found {' '.join(hits) or 'nothing'}"

    at = 0
    for group in wanted.first:
        assert set(hits[at : at + len(group)]) == group, shown
        at += len(group)
    if wanted.only:
        assert len(hits) == at, shown
    assert not wanted.absent & set(hits), shown
