"""Small seeded files shaped like well-known public recommendation data sets, for trying the intake on real layouts.

Development only: the values are synthetic (no real user, item or text), the *shape* is the publisher's: separators,
quoting, encodings, missing header lines, string ids with leading zeros, list-valued cells in several notations,
numbers with units or placeholders, missing-value spellings, huge counts and duplicate rows. Each writer makes one
folder with the files named as their publisher names them and returns their paths.

    .venv/bin/python benchmarks/public_shapes.py OUT_DIR   # writes every shape under OUT_DIR and lists the files
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

_SYLLABLES = np.array([c + v for c in "bdfgklmnprstvz" for v in "aeiou"])
COUNTRIES = ("United States", "Germany", "United Kingdom", "Poland", "Brazil", "Sweden", "Japan", "Finland")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
STEAM_TAGS = ("Action", "Indie", "Adventure", "RPG", "Strategy", "Simulation", "Casual", "Puzzle", "Horror",
              "Multiplayer", "Open World", "Pixel Graphics", "Sci-fi", "Survival", "Co-op", "Roguelike")
NEWS_CATEGORIES = {"sports": ("football_nfl", "basketball_nba", "golf"), "news": ("newsus", "newsworld"),
                   "finance": ("markets", "finance-companies"), "lifestyle": ("lifestyleroyals", "pets")}


def _word(rng: np.random.Generator, syllables: int = 3) -> str:
    return "".join(rng.choice(_SYLLABLES, syllables))


def _words(rng: np.random.Generator, count: int) -> str:
    syllables, lengths = rng.choice(_SYLLABLES, (count, 3)), rng.integers(1, 4, count)
    return " ".join("".join(word[:length]) for word, length in zip(syllables, lengths))


def _zipf_choice(rng: np.random.Generator, n: int, size: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.choice(n, size=size, p=weights / weights.sum())


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _mbid(rng: np.random.Generator) -> str:
    h = "".join(rng.choice(list("0123456789abcdef"), 32))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def lastfm(folder: Path, seed: int = 0, rows: int = 4000) -> list[Path]:
    """Last.fm 360K: `usersha1-artmbid-artname-plays.tsv` (no header: user sha1, artist MBID, some empty, artist
    name, plays with a heavy tail) and `usersha1-profile.tsv` (sha1, gender m/f/empty, age empty/0/absurd, country,
    signup date such as 'Aug 13, 2006')."""
    rng = np.random.default_rng(seed)
    users = [_sha1(f"user{u}") for u in range(250)]
    artists = [(_mbid(rng) if rng.random() > 0.1 else "", _words(rng, int(rng.integers(1, 3))).title())
               for _ in range(400)]
    artists[3] = (artists[3][0], '"Weird Al" Yankovic')  # names opening with a quote, in a file with no quoting
    artists[4] = (artists[4][0], '"Heroes')
    artists[5] = (artists[5][0], "Sigur Rós")
    lines = []
    for user, artist in zip(_zipf_choice(rng, 250, rows, 0.5), _zipf_choice(rng, 400, rows)):
        plays = int(np.ceil(np.exp(rng.normal(3.5, 1.6))))
        mbid, name = artists[artist]
        lines.append(f"{users[user]}\t{mbid}\t{name}\t{min(plays, 400_000)}")
    lines[7] = lines[7].rsplit("\t", 1)[0] + "\t419157"  # one huge count
    profile = []
    for u, user in enumerate(users):
        gender = rng.choice(["m", "f", ""], p=[0.6, 0.3, 0.1])
        age = rng.choice(["", "0", str(int(rng.integers(14, 60))), "-1337", "109"], p=[0.15, 0.05, 0.74, 0.03, 0.03])
        signup = f"{MONTHS[int(rng.integers(0, 12))]} {int(rng.integers(1, 29))}, {int(rng.integers(2002, 2010))}"
        profile.append(f"{user}\t{gender}\t{age}\t{rng.choice(COUNTRIES)}\t{signup}")
    return _write(folder, {"usersha1-artmbid-artname-plays.tsv": lines, "usersha1-profile.tsv": profile})


def lastfm_1k(folder: Path, seed: int = 0, rows: int = 6000) -> list[Path]:
    """Last.fm 1K: `userid-timestamp-artid-artname-traid-traname.tsv`, one row per listen, no header, no count:
    'user_000001', an ISO time '2009-05-04T23:08:57Z', artist MBID (some empty), artist name, track MBID (often
    empty), track name; a user plays the same artists again and again."""
    rng = np.random.default_rng(seed)
    artists = [(_mbid(rng) if rng.random() > 0.1 else "", _words(rng, int(rng.integers(1, 3))).title())
               for _ in range(300)]
    tracks = [(_mbid(rng) if rng.random() > 0.4 else "", _words(rng, 3).capitalize()) for _ in range(900)]
    start = np.datetime64("2005-02-14T00:00:00")
    lines = []
    for user, artist, track, second in zip(_zipf_choice(rng, 80, rows, 0.4), _zipf_choice(rng, 300, rows, 1.1),
                                           rng.integers(0, 900, rows), np.sort(rng.integers(0, 4 * 365 * 86400, rows))):
        when = str(start + np.timedelta64(int(second), "s")) + "Z"
        mbid, name = artists[artist]
        lines.append(f"user_{user + 1:06d}\t{when}\t{mbid}\t{name}\t{tracks[track][0]}\t{tracks[track][1]}")
    return _write(folder, {"userid-timestamp-artid-artname-traid-traname.tsv": lines})


def book_crossing(folder: Path, seed: int = 0, rows: int = 4000) -> list[Path]:
    """Book-Crossing: `BX-Book-Ratings.csv`, `BX-Books.csv`, `BX-Users.csv`, `;`-separated, every cell quoted,
    latin-1; ISBNs with leading zeros and an 'X'; ratings 0-10 where 0 (most rows) means an implicit interaction;
    Location 'city, state, country'; Age 'NULL'; year of publication 0 when unknown."""
    rng = np.random.default_rng(seed)
    isbns = [f"{int(rng.integers(0, 10**9)):09d}{rng.choice(list('0123456789X'))}" for _ in range(500)]
    isbns[0] = "0002005018"
    user_ids = [str(int(u)) for u in 1 + rng.choice(300_000, 300, replace=False)]
    ratings = ['"User-ID";"ISBN";"Book-Rating"']
    for user, book in zip(_zipf_choice(rng, 300, rows, 0.6), _zipf_choice(rng, 500, rows, 0.9)):
        rating = 0 if rng.random() < 0.62 else int(rng.integers(1, 11))
        ratings.append(f'"{user_ids[user]}";"{isbns[book]}";"{rating}"')
    books = ['"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher";"Image-URL-S";"Image-URL-M";'
             '"Image-URL-L"']
    for isbn in isbns:
        year = "0" if rng.random() < 0.05 else str(int(rng.integers(1950, 2005)))
        title = _words(rng, int(rng.integers(2, 6))).title() + rng.choice(["", " (Él)", " Café"])
        url = f"http://images.amazon.com/images/P/{isbn}.01.THUMBZZZ.jpg"
        books.append(f'"{isbn}";"{title}";"{_words(rng, 2).title()}";"{year}";"{_word(rng).title()} Press";'
                     f'"{url}";"{url}";"{url}"')
    users = ['"User-ID";"Location";"Age"']
    for user in user_ids:
        age = "NULL" if rng.random() < 0.4 else str(int(rng.integers(10, 80)))
        location = f"{_word(rng, 2)}, {_word(rng, 2)}, {rng.choice(COUNTRIES).lower()}"
        users.append(f'"{user}";"{location}";{age if age == "NULL" else chr(34) + age + chr(34)}')
    return _write(folder, {"BX-Book-Ratings.csv": ratings, "BX-Books.csv": books, "BX-Users.csv": users},
                  encoding="latin-1", newline="\r\n")


def amazon(folder: Path, seed: int = 0, rows: int = 4000) -> list[Path]:
    """Amazon reviews (2014/2018): `reviews_Books_5.json.gz` JSON lines (reviewerID, asin, overall 1.0-5.0,
    unixReviewTime, reviewTime '09 13, 2009', reviewText) and `meta_Books.json.gz` (asin, title, brand, price
    '$12.99' or missing, categories as nested lists)."""
    rng = np.random.default_rng(seed)
    asins = [f"{int(rng.integers(0, 10**9)):010d}" if rng.random() < 0.5 else "B00" + _word(rng).upper()[:7]
             for _ in range(400)]
    reviewers = ["A" + "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), 13)) for _ in range(300)]
    reviews = []
    for user, item in zip(_zipf_choice(rng, 300, rows, 0.6), _zipf_choice(rng, 400, rows)):
        when = int(rng.integers(1_100_000_000, 1_400_000_000))
        day = np.datetime64(when, "s").astype(object)
        reviews.append(json.dumps({
            "reviewerID": reviewers[user], "asin": asins[item], "reviewerName": _word(rng).title(),
            "helpful": [int(rng.integers(0, 5)), int(rng.integers(5, 9))],
            "reviewText": _words(rng, 20) + ", and more.",
            "overall": float(rng.choice([1, 2, 3, 4, 5], p=[0.05, 0.05, 0.1, 0.3, 0.5])), "summary": _words(rng, 4),
            "unixReviewTime": when, "reviewTime": f"{day.month:02d} {day.day}, {day.year}"}))
    meta = []
    for asin in asins:
        top = rng.choice(["Books", "Kindle Store"])
        record = {"asin": asin, "title": _words(rng, 4).title(),
                  "categories": [[top, rng.choice(["Literature & Fiction", "Mystery", "Science Fiction"])]]
                  + ([["Kindle Store"]] if rng.random() < 0.3 else []),
                  "salesRank": {"Books": int(rng.integers(1, 2_000_000))}}
        if rng.random() < 0.7:
            record["price"] = f"${rng.uniform(1, 60):.2f}"
        if rng.random() < 0.6:
            record["brand"] = _word(rng).title()
        meta.append(json.dumps(record))
    return _write(folder, {"reviews_Books_5.json.gz": reviews, "meta_Books.json.gz": meta})


def goodreads(folder: Path, seed: int = 0, rows: int = 4000) -> list[Path]:
    """Goodreads (UCSD): `goodreads_interactions.csv` (user_id, book_id, is_read, rating 0-5 where 0 means not
    rated, is_reviewed) and `goodreads_books.json.gz`, JSON lines whose `popular_shelves` is a list of objects
    {"count": "3", "name": "to-read"}, `authors` a list of {"author_id", "role"}, numbers written as strings and
    blanks as ""."""
    rng = np.random.default_rng(seed)
    shelves = ["to-read", "currently-reading", "fantasy", "romance", "sci-fi", "owned", "favorites", "mystery",
               "young-adult", "classics", "non-fiction", "kindle"]
    table = ["user_id,book_id,is_read,rating,is_reviewed"]
    for user, book in zip(_zipf_choice(rng, 300, rows, 0.6), _zipf_choice(rng, 500, rows)):
        rating = 0 if rng.random() < 0.4 else int(rng.integers(1, 6))
        table.append(f"{user},{book},{int(rating > 0 or rng.random() < 0.3)},{rating},{int(rng.random() < 0.1)}")
    books = []
    for book in range(500):
        picked = rng.choice(shelves, int(rng.integers(1, 6)), replace=False)
        books.append(json.dumps({
            "book_id": str(book), "title": _words(rng, 3).title(), "num_pages": str(int(rng.integers(80, 900)))
            if rng.random() < 0.9 else "", "publication_year": str(int(rng.integers(1950, 2018))),
            "popular_shelves": [{"count": str(int(rng.integers(1, 500))), "name": str(name)} for name in picked],
            "authors": [{"author_id": str(int(rng.integers(1, 900))), "role": ""}]}))
    return _write(folder, {"goodreads_interactions.csv": table, "goodreads_books.json.gz": books})


def steam(folder: Path, seed: int = 0, rows: int = 4000) -> list[Path]:
    """Steam (Kaggle exports): `steam-200k.csv` (no header: user id, game name, 'purchase' or 'play', hours
    played as floats, a 0 column; every play row repeats its purchase row) and `games.csv` (name, tags as a Python
    list string "['Action', 'Indie']", genres as 'Action, Indie', release dates 'Nov 1, 2000' / '2018-01-04' /
    'Coming soon', prices '$9.99', 'Free to Play', 'Free')."""
    rng = np.random.default_rng(seed)
    games = [_words(rng, int(rng.integers(1, 4))).title() for _ in range(300)]
    games[2] = "Sid Meier's Civilization V"
    games[4] = "Tom Clancy's Rainbow Six, Siege"
    users = [str(int(u)) for u in 5_000_000 + rng.choice(304_000_000, 250, replace=False)]
    lines = []
    for user, game in zip(_zipf_choice(rng, 250, rows // 2, 0.5), _zipf_choice(rng, 300, rows // 2)):
        name = f'"{games[game]}"' if "," in games[game] else games[game]
        lines.append(f"{users[user]},{name},purchase,1.0,0")
        if rng.random() < 0.7:
            hours = round(float(np.exp(rng.normal(1.5, 2.0))), 1)
            lines.append(f"{users[user]},{name},play,{max(hours, 0.1)},0")
    table = ["name,release_date,price,genres,popular_tags,developer"]
    for name in games:
        tags = [str(t) for t in rng.choice(STEAM_TAGS, int(rng.integers(1, 6)), replace=False)]
        genres = ", ".join(rng.choice(STEAM_TAGS[:8], int(rng.integers(1, 3)), replace=False))
        release = rng.choice([f"{MONTHS[int(rng.integers(0, 12))]} {int(rng.integers(1, 29))}, "
                              f"{int(rng.integers(2000, 2019))}", f"{int(rng.integers(2000, 2019))}-01-04",
                              "Coming soon"], p=[0.7, 0.25, 0.05])
        price = rng.choice([f"${rng.uniform(1, 60):.2f}", "Free to Play", "Free"], p=[0.85, 0.1, 0.05])
        table.append(",".join(f'"{v}"' for v in (name, release, price, genres, str(tags), _word(rng).title())))
    return _write(folder, {"steam-200k.csv": lines, "games.csv": table})


def mind(folder: Path, seed: int = 0, rows: int = 1500) -> list[Path]:
    """MIND news: `behaviors.tsv` (no header: impression id, user id, time '11/15/2019 8:55:22 AM', history of
    clicked news 'N1 N2', impressions 'N123-1 N456-0') and `news.tsv` (no header: news id, category, subcategory,
    title, abstract, url, title and abstract entities as JSON)."""
    rng = np.random.default_rng(seed)
    news = [f"N{int(n)}" for n in 1 + rng.choice(130_000, 400, replace=False)]
    users = [f"U{int(u)}" for u in 1 + rng.choice(90_000, 300, replace=False)]
    behaviors = []
    for impression in range(rows):
        user = users[int(_zipf_choice(rng, 300, 1, 0.5)[0])]
        history = " ".join(news[i] for i in _zipf_choice(rng, 400, int(rng.integers(0, 12))))
        shown = _zipf_choice(rng, 400, int(rng.integers(2, 8)))
        clicked = int(rng.integers(0, len(shown)))
        labels = " ".join(f"{news[i]}-{int(k == clicked)}" for k, i in enumerate(shown))
        behaviors.append(f"{impression + 1}\t{user}\t11/{int(rng.integers(9, 16))}/2019 "
                         f"{int(rng.integers(1, 13))}:{int(rng.integers(10, 60))}:{int(rng.integers(10, 60))} "
                         f"{rng.choice(['AM', 'PM'])}\t{history}\t{labels}")
    table = []
    for nid in news:
        category = rng.choice(list(NEWS_CATEGORIES))
        title = _words(rng, int(rng.integers(4, 10))).capitalize()
        if rng.random() < 0.05:
            title = f'"{title}" says {_word(rng).title()}'
        entities = json.dumps([{"Label": _word(rng).title(), "Type": "P",
                                "WikidataId": f"Q{int(rng.integers(1, 10**6))}", "Confidence": 0.99,
                                "OccurrenceOffsets": [0], "SurfaceForms": [_word(rng)]}])
        table.append("\t".join([nid, category, rng.choice(NEWS_CATEGORIES[category]), title,
                                "" if rng.random() < 0.1 else _words(rng, 15) + ".",
                                f"https://assets.msn.com/labs/mind/AA{_word(rng)}.html", entities, "[]"]))
    return _write(folder, {"behaviors.tsv": behaviors, "news.tsv": table})


def bookmarks(folder: Path, seed: int = 0, rows: int = 6000) -> list[Path]:
    """Delicious / CiteULike (HetRec 2011 layout): `user_taggedbookmarks.dat`, tab-separated with a header, one row
    per tag assignment (userID, bookmarkID, tagID), no rating and no time; `bookmarks.dat` (id, md5, title, url,
    urlPrincipal) and `bookmark_tags.dat` (bookmarkID, tagID, tagWeight)."""
    rng = np.random.default_rng(seed)
    n_items, n_tags = 600, 2000
    item_tags = [sorted(set(_zipf_choice(rng, n_tags, int(rng.integers(1, 9)), 1.1).tolist())) for _ in range(n_items)]
    triples = ["userID\tbookmarkID\ttagID"]
    pairs = set()
    while len(triples) < rows:
        user, item = int(_zipf_choice(rng, 300, 1, 0.6)[0]) + 8, int(_zipf_choice(rng, n_items, 1, 0.8)[0]) + 1
        pairs.add((user, item))
        for tag in rng.choice(item_tags[item - 1], min(len(item_tags[item - 1]), int(rng.integers(1, 4))),
                              replace=False):
            triples.append(f"{user}\t{item}\t{int(tag) + 1}")
    items = ["id\tmd5\ttitle\turl\turlPrincipal"]
    tags = ["bookmarkID\ttagID\ttagWeight"]
    for item in range(1, n_items + 1):
        digest = hashlib.md5(str(item).encode()).hexdigest()
        items.append(f"{item}\t{digest}\t{_words(rng, 5).title()}\thttp://www.{_word(rng)}.com/{_word(rng)}\t"
                     f"www.{_word(rng)}.com")
        tags += [f"{item}\t{int(tag) + 1}\t{int(rng.integers(1, 20))}" for tag in item_tags[item - 1]]
    return _write(folder, {"user_taggedbookmarks.dat": triples, "bookmarks.dat": items, "bookmark_tags.dat": tags},
                  encoding="latin-1")


def lastfm_2k(folder: Path, seed: int = 0, rows: int = 5000) -> list[Path]:
    """Last.fm (HetRec 2011 hetrec2011-lastfm-2k), tab-separated with headers: `user_artists.dat` (userID,
    artistID, weight: play counts from 1 to hundreds of thousands), `artists.dat` (id, name, url, pictureURL),
    `user_taggedartists.dat` (userID, artistID, tagID, day, month, year: a row per tag a user gave an artist),
    `tags.dat` (tagID, tagValue, latin-1) and `user_friends.dat` (userID, friendID, both directions)."""
    rng = np.random.default_rng(seed)
    n_users, n_artists, n_tags = 300, 700, 900
    plays, seen = ["userID\tartistID\tweight"], set()
    for user, artist in zip(_zipf_choice(rng, n_users, rows, 0.3) + 2, _zipf_choice(rng, n_artists, rows, 1.0) + 1):
        if (user, artist) not in seen:
            seen.add((user, artist))
            plays.append(f"{user}\t{artist}\t{int(np.ceil(np.exp(rng.normal(5.5, 1.8))))}")
    artists = ["id\tname\turl\tpictureURL"] + [
        f"{a}\t{_words(rng, 2).title()}\thttp://www.last.fm/music/{_word(rng)}\thttp://userserve-ak.last.fm/serve/252/"
        f"{int(rng.integers(1, 9_999_999))}.jpg" for a in range(1, n_artists + 1)]
    tagged = ["userID\tartistID\ttagID\tday\tmonth\tyear"]
    for user, artist in sorted(seen)[::3]:
        for tag in set(_zipf_choice(rng, n_tags, int(rng.integers(1, 5)), 1.0).tolist()):
            month, year = int(rng.integers(1, 13)), int(rng.integers(2005, 2012))
            tagged.append(f"{user}\t{artist}\t{tag + 1}\t1\t{month}\t{year}")
    tags = ["tagID\ttagValue"] + [f"{t}\t{_words(rng, 1)}{'é' if t % 50 == 0 else ''}" for t in range(1, n_tags + 1)]
    pairs = {tuple(sorted(p)) for p in zip(rng.integers(2, n_users + 2, 600), rng.integers(2, n_users + 2, 600))
             if p[0] != p[1]}
    friends = ["userID\tfriendID"] + [f"{a}\t{b}" for x, y in sorted(pairs) for a, b in ((x, y), (y, x))]
    return _write(folder, {"user_artists.dat": plays, "artists.dat": artists, "user_taggedartists.dat": tagged,
                           "tags.dat": tags, "user_friends.dat": friends}, encoding="latin-1")


def goodbooks(folder: Path, seed: int = 0, rows: int = 6000) -> list[Path]:
    """goodbooks-10k: `ratings.csv` (user_id, book_id 1..n, rating 1-5), `books.csv` (book_id beside
    goodreads_book_id, isbn, authors as 'A, B', original_publication_year as '2008.0', title, language_code,
    average_rating, ratings_count, image_url), `book_tags.csv` (goodreads_book_id, tag_id, count: keyed by the
    goodreads id, whose numbers overlap book_id's), `tags.csv` (tag_id, tag_name) and `to_read.csv` (user_id,
    book_id)."""
    rng = np.random.default_rng(seed)
    n_books, n_tags = 400, 1500
    goodreads_ids = np.concatenate([rng.choice(np.arange(1, n_books + 1), 40, replace=False),
                                    rng.choice(np.arange(n_books + 1, 30_000_000), n_books - 40, replace=False)])
    authors = [_words(rng, 2).title() for _ in range(150)]
    books = ["book_id,goodreads_book_id,isbn,authors,original_publication_year,title,language_code,average_rating,"
             "ratings_count,image_url"]
    for book, goodreads in enumerate(goodreads_ids, start=1):
        written = ", ".join(sorted({authors[a] for a in _zipf_choice(rng, 150, int(rng.integers(1, 3)), 0.8)}))
        year = f"{rng.integers(1800, 2017)}.0" if rng.random() > 0.02 else ""
        books.append(f'{book},{goodreads},{int(rng.integers(10 ** 8, 10 ** 9)):09d},"{written}",{year},'
                     f'{_words(rng, 3).title()},{rng.choice(["eng", "en-US", "spa", ""])},'
                     f'{rng.uniform(2.5, 4.8):.2f},{int(rng.integers(2_000, 4_000_000))},'
                     f'https://images.gr-assets.com/books/{goodreads}m.jpg')
    ratings, seen = ["user_id,book_id,rating"], set()
    for user, book in zip(_zipf_choice(rng, 500, rows, 0.4) + 1, _zipf_choice(rng, n_books, rows, 0.8) + 1):
        if (user, book) not in seen:
            seen.add((user, book))
            ratings.append(f"{user},{book},{int(rng.integers(1, 6))}")
    shelved = ["goodreads_book_id,tag_id,count"]
    for goodreads in goodreads_ids:
        for tag in sorted(set(_zipf_choice(rng, n_tags, 12, 1.0).tolist())):
            shelved.append(f"{goodreads},{tag},{int(np.ceil(np.exp(rng.normal(4, 2))))}")
    tags = ["tag_id,tag_name"] + [f"{t},{_words(rng, 1).replace(' ', '-')}" for t in range(n_tags)]
    to_read = ["user_id,book_id"] + [f"{u},{b}" for u, b in zip(rng.integers(1, 501, 800),
                                                                 rng.integers(1, n_books, 800))]
    return _write(folder, {"ratings.csv": ratings, "books.csv": books, "book_tags.csv": shelved, "tags.csv": tags,
                           "to_read.csv": to_read})


def movielens_latest(folder: Path, seed: int = 0, rows: int = 6000) -> list[Path]:
    """MovieLens latest-small (ml-latest-small): `ratings.csv` (userId, movieId, half-star ratings 0.5-5.0, unix
    timestamp), `movies.csv` (movieId, title with the year in brackets and commas inside quotes, genres as
    `Adventure|Animation` or `(no genres listed)`), `tags.csv` (userId, movieId, free-text tag, timestamp: one row
    per user who gave a tag, a minority of the movies tagged, some tags given by several users) and `links.csv`
    (movieId, imdbId with leading zeros, tmdbId sometimes empty)."""
    rng = np.random.default_rng(seed)
    genres = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
              "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
    n_movies = 500
    movie_ids = np.sort(rng.choice(np.arange(1, 200_000), n_movies, replace=False))
    movies, links = ["movieId,title,genres"], ["movieId,imdbId,tmdbId"]
    for movie in movie_ids:
        title = _words(rng, int(rng.integers(1, 4))).title()
        title = f'"{title}, The ({rng.integers(1930, 2019)})"' if rng.random() < 0.1 else \
            f"{title} ({rng.integers(1930, 2019)})"
        listed = "|".join(sorted(rng.choice(genres, int(rng.integers(1, 4)), replace=False))) \
            if rng.random() > 0.02 else "(no genres listed)"
        movies.append(f"{movie},{title},{listed}")
        tmdb = "" if rng.random() < 0.01 else str(rng.integers(1, 500_000))
        links.append(f"{movie},{int(rng.integers(1, 9_999_999)):07d},{tmdb}")
    ratings, seen = ["userId,movieId,rating,timestamp"], set()
    for user, movie in zip(_zipf_choice(rng, 300, rows, 0.5) + 1, movie_ids[_zipf_choice(rng, n_movies, rows, 0.9)]):
        if (user, movie) not in seen:
            seen.add((user, movie))
            ratings.append(f"{user},{movie},{rng.integers(1, 11) / 2:.1f},{rng.integers(964_982_703, 1_537_799_250)}")
    vocabulary = [_words(rng, int(rng.integers(1, 3))) for _ in range(600)]
    tagged = movie_ids[rng.choice(n_movies, n_movies // 5, replace=False)]
    tags = ["userId,movieId,tag,timestamp"]
    for movie in tagged:
        for tag in _zipf_choice(rng, len(vocabulary), int(rng.integers(1, 8)), 1.0):
            for user in rng.choice(np.arange(1, 301), int(rng.integers(1, 4)), replace=False):
                tags.append(f"{user},{movie},{vocabulary[tag]},{rng.integers(1_137_179_352, 1_537_098_603)}")
    return _write(folder, {"ratings.csv": ratings, "movies.csv": movies, "tags.csv": tags, "links.csv": links})


def _write(folder: Path, files: dict[str, list[str]], encoding: str = "utf-8", newline: str = "\n") -> list[Path]:
    """Each file's lines written into `folder` as its publisher ships it (gzipped when the name ends in .gz); the
    paths, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, lines in files.items():
        data = (newline.join(lines) + newline).encode(encoding)
        path = folder / name
        path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
        paths.append(path)
    return paths


SHAPES: dict[str, Callable[..., list[Path]]] = {"lastfm": lastfm, "lastfm-1k": lastfm_1k,
                                                "book-crossing": book_crossing, "amazon": amazon,
                                                "goodreads": goodreads, "steam": steam, "mind": mind,
                                                "bookmarks": bookmarks, "lastfm-2k": lastfm_2k, "goodbooks": goodbooks,
                                                "movielens-latest": movielens_latest}


def main(out: Path) -> None:
    for name, write in SHAPES.items():
        for path in write(out / name):
            print(f"{name:14s} {path} {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/public_shapes"))
