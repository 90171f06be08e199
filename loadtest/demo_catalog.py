"""Deterministic demo data: sellers, products and customers generated from a seed.

Every item has its own random stream seeded by (seed, kind, index), so item i is the same
whatever the counts asked for, and nothing comes from outside this module.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

CURRENCY = "EUR"

# fmt: off
# category: (nouns, modifiers, brands, attributes, price range in whole euros)
CATEGORIES: dict[str, tuple[list[str], list[str], list[str], dict[str, list[str]], range]] = {
    "Electronics": (
        ["Wireless Earbuds", "Bluetooth Speaker", "USB-C Hub", "Mechanical Keyboard",
         "4K Monitor", "Power Bank", "Smartwatch", "Webcam", "Noise-Cancelling Headphones"],
        ["Compact", "Pro", "Ultra-Slim", "Portable", "Studio", "Smart", "Rugged"],
        ["Voltic", "Auralis", "Nexon", "Pixelforge", "Kestrel Audio"],
        {"color": ["black", "white", "graphite", "silver", "navy"],
         "warranty": ["1 year", "2 years", "3 years"],
         "connectivity": ["Bluetooth 5.3", "USB-C", "Wi-Fi 6", "Bluetooth + USB-C"]},
        range(15, 450),
    ),
    "Home & Kitchen": (
        ["Chef's Knife", "Cast Iron Skillet", "French Press", "Stand Mixer", "Dutch Oven",
         "Cutting Board", "Espresso Cups Set", "Kettle", "Storage Jars"],
        ["Classic", "Heritage", "Everyday", "Professional", "Nordic", "Enamelled"],
        ["Hearthstone", "Maison Verte", "Copperleaf", "Kitchenly"],
        {"material": ["stainless steel", "cast iron", "oak", "ceramic", "borosilicate glass"],
         "color": ["cream", "slate", "sage", "terracotta", "black"],
         "dishwasher_safe": ["yes", "no"]},
        range(9, 320),
    ),
    "Books": (
        ["Field Guide to Birds", "Sourdough Handbook", "History of the Baltic",
         "Intro to Data Engineering", "Mountain Trails Atlas", "Short Stories Collection",
         "Watercolour Basics", "Chess Openings"],
        ["Illustrated", "Revised", "Pocket", "Complete", "Second Edition of the"],
        ["Lantern Press", "Northbook", "Quill & Ink", "Meridian House"],
        {"format": ["paperback", "hardcover"], "language": ["English", "German", "French"],
         "pages": ["184", "256", "320", "412", "528"]},
        range(8, 60),
    ),
    "Clothing": (
        ["Merino Sweater", "Rain Jacket", "Linen Shirt", "Chino Trousers", "Wool Beanie",
         "Down Vest", "Denim Jacket", "Running Tee"],
        ["Relaxed", "Slim-Fit", "Organic", "Lightweight", "Waterproof", "Heavyweight"],
        ["Fjellwear", "Tidewater", "Urban Thread", "Halden & Co"],
        {"size": ["XS", "S", "M", "L", "XL", "XXL"],
         "color": ["navy", "olive", "charcoal", "rust", "off-white", "forest green"],
         "material": ["merino wool", "organic cotton", "linen", "recycled polyester"]},
        range(19, 240),
    ),
    "Sports & Outdoors": (
        ["Trekking Poles", "Yoga Mat", "Camping Stove", "Climbing Chalk Bag", "Hydration Pack",
         "Two-Person Tent", "Sleeping Bag", "Kettlebell"],
        ["Ultralight", "Trail", "Expedition", "Training", "All-Season", "Foldable"],
        ["Summitline", "Wildmark", "Peak & Pine", "Stridewell"],
        {"weight": ["350 g", "780 g", "1.2 kg", "2.4 kg", "8 kg"],
         "color": ["orange", "teal", "black", "olive"],
         "season": ["3-season", "4-season", "all-year"]},
        range(12, 380),
    ),
    "Toys & Games": (
        ["Wooden Train Set", "Strategy Board Game", "Jigsaw Puzzle 1000 Pieces",
         "Building Blocks Kit", "Plush Fox", "Marble Run", "Card Game"],
        ["Deluxe", "Family", "Travel", "Classic", "Junior", "Collector's"],
        ["Playwright", "Tinker Toys", "Owl & Acorn", "Meeple Works"],
        {"age": ["3+", "6+", "8+", "12+", "14+"], "players": ["1", "2-4", "2-6", "3-8"],
         "material": ["FSC wood", "cardboard", "recycled plastic", "cotton"]},
        range(7, 120),
    ),
    "Beauty & Personal Care": (
        ["Face Serum", "Shampoo Bar", "Beard Oil", "Hand Cream", "Electric Toothbrush",
         "Hair Dryer", "Lip Balm Set", "Sunscreen SPF 50"],
        ["Gentle", "Hydrating", "Natural", "Fragrance-Free", "Travel-Size", "Vegan"],
        ["Aurelle", "Botanica Lab", "Pure Fjord", "Lumen Skin"],
        {"skin_type": ["all", "dry", "sensitive", "oily"],
         "volume": ["30 ml", "50 ml", "100 ml", "250 ml"], "vegan": ["yes", "no"]},
        range(5, 150),
    ),
    "Garden": (
        ["Pruning Shears", "Raised Bed Kit", "Watering Can", "Seed Starter Tray",
         "Garden Hose 25 m", "Compost Bin", "Bird Feeder", "Solar Path Lights"],
        ["Heavy-Duty", "Ergonomic", "Weatherproof", "Galvanised", "Eco"],
        ["Greenthumb", "Rootstock", "Bloom & Burrow", "Hedgerow"],
        {"material": ["galvanised steel", "cedar", "recycled plastic", "aluminium"],
         "color": ["green", "grey", "terracotta", "natural"],
         "outdoor_rated": ["yes"]},
        range(6, 260),
    ),
    "Office Supplies": (
        ["Dot Grid Notebook", "Fountain Pen", "Desk Organiser", "Ergonomic Chair",
         "Standing Desk Converter", "Label Maker", "Monitor Arm", "Paper Tray"],
        ["Premium", "Minimalist", "Refillable", "Adjustable", "Recycled"],
        ["Inkwell", "Deskcraft", "Paperhaus", "Ledgerline"],
        {"color": ["black", "white", "walnut", "sand", "blue"],
         "material": ["recycled paper", "aluminium", "bamboo", "steel"],
         "pack_size": ["1", "3", "5", "10"]},
        range(4, 420),
    ),
    "Pet Supplies": (
        ["Dog Harness", "Cat Scratching Post", "Orthopaedic Dog Bed", "Automatic Feeder",
         "Chew Toy Set", "Travel Crate", "Grooming Brush", "Aquarium Filter"],
        ["Durable", "Cosy", "Reflective", "Washable", "Calming", "Adjustable"],
        ["Pawsome", "Tailwind", "Whisker & Co", "Barkley"],
        {"pet": ["dog", "cat", "small animals", "fish"], "size": ["S", "M", "L", "XL"],
         "color": ["red", "blue", "grey", "brown"]},
        range(5, 180),
    ),
    "Automotive": (
        ["Dash Cam", "Tyre Inflator", "Jump Starter", "Car Vacuum", "Roof Box",
         "Seat Organiser", "LED Headlight Bulbs", "Microfibre Towels"],
        ["Compact", "Heavy-Duty", "Cordless", "Universal", "Night-Vision"],
        ["Roadwise", "Torque & Co", "Autolume", "Gearshift"],
        {"fits": ["universal", "most sedans", "SUVs and vans"],
         "power": ["12 V", "USB-C", "rechargeable battery"],
         "color": ["black", "grey", "silver"]},
        range(9, 350),
    ),
    "Grocery & Gourmet": (
        ["Single-Origin Coffee Beans", "Extra Virgin Olive Oil", "Matcha Powder",
         "Dark Chocolate 85%", "Wildflower Honey", "Loose Leaf Earl Grey", "Aged Balsamic"],
        ["Organic", "Fair Trade", "Small-Batch", "Cold-Pressed", "Artisan"],
        ["Olivar", "Roastery North", "Honeycomb Farm", "Leaf & Kettle"],
        {"weight": ["100 g", "250 g", "500 g", "1 kg"],
         "origin": ["Ethiopia", "Greece", "Japan", "Italy", "Colombia", "Spain"],
         "organic": ["yes", "no"]},
        range(4, 60),
    ),
}

SELLER_FIRST = ["Northwind", "Blue Harbor", "Copper Hill", "Old Mill", "Silver Birch", "Red Fern",
                "Lakeside", "Granite", "Amber Lane", "Foxglove", "Driftwood", "Juniper"]
SELLER_LAST = ["Goods", "Trading", "Outfitters", "Supply Co", "Market", "Emporium", "Store",
               "Collective", "Works", "Depot"]
FIRST_NAMES = ["Anna", "Ben", "Chloé", "Daniel", "Elif", "Finn", "Greta", "Hugo", "Ines", "Jonas",
               "Kaja", "Luca", "Maya", "Noah", "Olga", "Pablo", "Rosa", "Sami", "Tilda", "Yusuf"]
LAST_NAMES = ["Andersen", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen",
              "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Rossi", "Schmidt", "Weber"]
STREETS = ["Harbour Street", "Lindenallee", "Rue des Lilas", "Keizersgracht", "Via Roma",
           "Oak Avenue", "Station Road", "Marktplatz", "Calle Mayor", "Kirkegade"]
CITIES = [("Berlin", "DE", "10{:03d}"), ("Hamburg", "DE", "20{:03d}"), ("Paris", "FR", "750{:02d}"),
          ("Lyon", "FR", "690{:02d}"), ("Amsterdam", "NL", "10{:02d} AB"),
          ("Milan", "IT", "201{:02d}"), ("Madrid", "ES", "280{:02d}"),
          ("Copenhagen", "DK", "1{:03d}"), ("Vienna", "AT", "1{:03d}")]
DESCRIPTIONS = [
    "{title} by {brand}. {modifier} design built for {use}.",
    "Meet the {noun_lower} from {brand}: {modifier_lower}, dependable and made to last.",
    "A {modifier_lower} {noun_lower} that customers come back for. Ideal for {use}.",
]
USES = ["everyday use", "gifting", "small spaces", "weekend projects", "travel", "the whole family"]
# fmt: on


def rng_for(seed: int, kind: str, index: int) -> random.Random:
    """The random stream of one demo item."""
    return random.Random(f"{seed}:{kind}:{index}")


def uuid_from(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID drawn from rng."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@dataclass(frozen=True)
class DemoSeller:
    """A demo seller: id, registration body, size weight and favourite categories."""

    id: uuid.UUID
    body: dict[str, Any]
    weight: float
    categories: tuple[str, ...]


def seller(seed: int, index: int) -> DemoSeller:
    """The index-th demo seller."""
    rng = rng_for(seed, "seller", index)
    name = f"{rng.choice(SELLER_FIRST)} {rng.choice(SELLER_LAST)} {index + 1}"
    slug = name.lower().replace(" ", "-")
    categories = tuple(rng.sample(sorted(CATEGORIES), rng.randint(1, 3)))
    return DemoSeller(
        uuid_from(rng),
        {"name": name, "email": f"sales@{slug}.example.com"},
        rng.paretovariate(1.5),
        categories,
    )


def product(seed: int, index: int, sellers: list[DemoSeller]) -> tuple[DemoSeller, dict[str, Any]]:
    """The index-th demo product: its seller and its listing body."""
    rng = rng_for(seed, "product", index)
    owner = rng.choices(sellers, weights=[s.weight for s in sellers])[0]
    category = rng.choice(owner.categories)
    nouns, modifiers, brands, attributes, prices = CATEGORIES[category]
    noun, modifier, brand = rng.choice(nouns), rng.choice(modifiers), rng.choice(brands)
    chosen = {key: rng.choice(values) for key, values in attributes.items()}
    variant = chosen.get("color") or chosen.get("size") or chosen.get("weight")
    title = f"{brand} {modifier} {noun}" + (f", {variant}" if variant else "")
    description = rng.choice(DESCRIPTIONS).format(
        title=title,
        brand=brand,
        modifier=modifier,
        modifier_lower=modifier.lower(),
        noun_lower=noun.lower(),
        use=rng.choice(USES),
    )
    euros = min(prices.stop, max(prices.start, int(rng.lognormvariate(0, 0.8) * prices.start * 3)))
    cents = rng.choice([99, 99, 95, 49, 0])
    body = {
        "title": title,
        "description": description,
        "category": category,
        "attributes": {"brand": brand, **chosen},
        "price": {"amount_minor": euros * 100 + cents, "currency": CURRENCY},
    }
    return owner, body


def stock_quantity(seed: int, index: int) -> int:
    """Units received for the index-th product."""
    return rng_for(seed, "stock", index).randint(5, 500)


def customer(
    seed: int, index: int
) -> tuple[uuid.UUID, dict[str, Any], list[tuple[uuid.UUID, dict[str, str]]]]:
    """The index-th demo customer: id, registration body and (address id, address) pairs."""
    rng = rng_for(seed, "customer", index)
    customer_id = uuid_from(rng)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = unicodedata.normalize("NFKD", f"{first}.{last}.{index}").encode("ascii", "ignore")
    body = {"name": f"{first} {last}", "email": f"{local.decode().lower()}@example.org"}
    addresses = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        city, country, postal = rng.choice(CITIES)
        address = {
            "line1": f"{rng.choice(STREETS)} {rng.randint(1, 180)}",
            "line2": rng.choice(["", "", f"Apt {rng.randint(1, 40)}"]),
            "city": city,
            "postal_code": postal.format(rng.randint(1, 99)),
            "country": country,
        }
        addresses.append((uuid_from(rng), address))
    return customer_id, body, addresses
