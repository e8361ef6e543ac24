"""The words of the page, the charts and the report, in English (``"en"``) and Chinese (``"zh"``).

A region's own labels (township groups, targets, server controls, projects) are written "local English", e.g.
``昆鳌主中心 Kunyang–Aojiang main centre``: :func:`in_language` picks the part for a language. Scenario files may
carry ``title``, ``title_zh`` and ``description_zh`` beside their ``description``; :func:`scenario_title` uses them
and falls back to the scenario's name. :func:`lever_sentence` says what one lever does, in words, from the lever as
run.json records it.

Pure functions, no plotting and no Solara.
"""

from __future__ import annotations

import re

LANGUAGES = ("en", "zh")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    """True if ``text`` holds a Chinese character.

    >>> has_cjk("鳌江 Aojiang"), has_cjk("Aojiang")
    (True, False)
    """
    return bool(_CJK.search(text or ""))


def in_language(label: str, lang: str) -> str:
    """The part of a "local English" label for ``lang``: the leading words that hold Chinese characters for
    ``"zh"``, the rest for ``"en"``; a label in one language only is returned whole.

    >>> in_language("昆鳌主中心 Kunyang–Aojiang main centre", "zh")
    '昆鳌主中心'
    >>> in_language("市域铁路S3二期 S3 metro-rail phase 2", "en")
    'S3 metro-rail phase 2'
    >>> in_language("western towns", "zh")
    'western towns'
    """
    words = (label or "").split(" ")
    k = 0
    while k < len(words) and has_cjk(words[k]):
        k += 1
    if k == 0 or k == len(words):
        return label
    local, english = " ".join(words[:k]), " ".join(words[k:])
    return local if lang == "zh" else english


# The county indicators: title in English, title in Chinese, unit ("persons", "share", "ratio", "jobs").
INDICATORS = {
    "population": ("Resident population", "常住人口", "persons"),
    "primacy": ("Main-centre share (primacy)", "主中心首位度", "share"),
    "urbanisation": ("Urbanisation", "城镇化率", "share"),
    "aged60_share": ("Aged 60+ share", "60岁及以上人口占比", "share"),
    "aged0_14_share": ("Aged 0-14 share", "0-14岁人口占比", "share"),
    "dependency_ratio": ("Dependency ratio", "总抚养比", "ratio"),
    "registered_population": ("Registered (hukou) population", "户籍总人口", "persons"),
    "higher_education_20_59": ("Higher education, ages 20-59", "主要劳动年龄人口受过高等教育比例", "share"),
    "higher_education_share": ("Residents with higher education", "受过高等教育人口占比", "share"),
    "migrant_population": ("Migrant (non-local hukou) residents", "外来（非本地户籍）常住人口", "persons"),
    "partnered_share": ("Partnered share of adults", "有配偶成年人占比", "share"),
    "migrant_share": ("Migrant share of residents", "外来人口占比", "share"),
    "hukou_population": ("Residents with local hukou", "本地户籍常住人口", "persons"),
    "households": ("Households", "户数", "persons"),
    "jobs": ("Jobs in the region", "区域内就业岗位", "jobs"),
    "employment_rate": ("Employed residents / residents 16-64", "就业人口 / 16-64岁人口", "share"),
    "unfilled_rate": ("Unfilled share of jobs", "空缺岗位占比", "share"),
    "labour_arrivals": ("Arrivals recruited to jobs (with households)", "因就业迁入人口（含随迁家属）", "persons"),
}


def indicator_label(indicator: str, lang: str = "en", labels: dict[str, str] | None = None) -> tuple[str, str]:
    """Title (in ``lang``) and unit of a county indicator.

    ``labels`` maps further columns to "local English" labels (a region's township groups:
    :func:`region_labels`); a group's share not in it is named after its key.

    >>> indicator_label("primacy", "zh")
    ('主中心首位度', 'share')
    >>> indicator_label("west_hills_share")
    ('West hills share', 'share')
    >>> indicator_label("ring_share", "zh", {"ring_share": "环山组团占比 ring share"})
    ('环山组团占比', 'share')
    """
    if labels and indicator in labels and indicator not in INDICATORS:
        return in_language(labels[indicator], lang), "share" if indicator.endswith("_share") else ""
    if indicator in INDICATORS:
        en, zh, unit = INDICATORS[indicator]
        return (zh if lang == "zh" else en), unit
    if indicator.endswith("_share"):
        key = indicator[: -len("_share")].replace("_", " ")
        return (f"{key} 占比" if lang == "zh" else key.capitalize() + " share"), "share"
    return indicator, ""


def region_labels(config) -> dict[str, str]:
    """"Local English" labels of a region's township-group share columns (``<group>_share``), from region.yaml's
    ``groups`` (the main centre's share is the plan's primacy and keeps its own label).

    >>> class G: label = "环山组团 ring"
    >>> class C: groups = {"ring": G()}
    >>> region_labels(C())
    {'ring_share': '环山组团占比 ring share'}
    """
    from sim.indicators import group_column

    out = {}
    for key, group in getattr(config, "groups", {}).items():
        column = group_column(key)
        if column.endswith("_share"):
            zh, en = in_language(group.label, "zh"), in_language(group.label, "en")
            out[column] = f"{zh}占比 {en} share" if zh != en else f"{en} share"
    return out


def count_format(lang: str):
    """A tick formatter's function for counts of persons: thousands (``12k``) in English, 万 in Chinese.

    >>> count_format("en")(125000, 0), count_format("zh")(125000, 0)
    ('125k', '12.5万')
    """
    if lang == "zh":
        return lambda v, _: f"{v / 1e4:,.4g}万"
    return lambda v, _: f"{v / 1e3:,.0f}k"


# The words of the report, the charts and the page that are not data: key -> (English, Chinese).
WORDS = {
    "plan target (min)": ("plan target (min)", "规划目标（下限）"),
    "plan target (max)": ("plan target (max)", "规划目标（上限）"),
    "indicators by scenario": ("County indicators by scenario: mean over seeds, band = 90% of seeds",
                               "各情景县域指标：各随机种子均值，阴影为 90% 区间"),
    "residents": ("residents", "常住人口"),
    "simulated year": ("simulated year", "模拟年份"),
    "populations title": ("Township populations, {year} (tick: {start})", "{year}年各乡镇常住人口（刻度：{start}年）"),
    "county indicators to": ("County indicators to {year} (triangles: plan targets)", "截至{year}年的县域指标（三角形：规划目标）"),
}


def word(key: str, lang: str = "en", **values) -> str:
    """The text of ``key`` in ``lang``, with ``values`` filled in.

    >>> word("populations title", "zh", year=2030, start=2020)
    '2030年各乡镇常住人口（刻度：2020年）'
    """
    en, zh = WORDS[key]
    return (zh if lang == "zh" else en).format(**values)


def noise_phrase(verdict: str, pairs: int, odds: int, lang: str = "en", noise: str | None = None) -> str:
    """What an effect's interval says about noise, in words: ``verdict`` is from
    :func:`workflow.compare.noise_verdict`, ``pairs`` the paired differences behind it, ``odds`` one time in how
    many they would all share a sign with no effect (:func:`workflow.compare.agreement_odds`), ``noise`` what the
    interval holds (default: seed noise).

    >>> noise_phrase("few", 3, 4)
    'all 3 seeds agree in sign, as they would 1 time in 4 with no effect'
    >>> noise_phrase("beyond", 20, 2 ** 19, "zh")
    '超出随机波动'
    """
    zh = lang == "zh"
    noise = noise or ("随机波动" if zh else "seed noise")
    if verdict == "beyond":
        return f"超出{noise}" if zh else f"beyond {noise}"
    if verdict == "within":
        return f"在{noise}范围内" if zh else f"within {noise}"
    if verdict == "few":
        return (f"{pairs} 个种子方向一致，但即使没有效应也有 1/{odds} 的概率如此" if zh else
                f"all {pairs} seeds agree in sign, as they would 1 time in {odds} with no effect")
    return f"只有一次运行，无法判断是否超出{noise}" if zh else f"one run: nothing can be said about {noise}"


def scenario_title(detail: dict, lang: str = "en") -> str:
    """A scenario's title for readers: its ``title`` (``title_zh`` in Chinese), else its name.

    ``detail`` is the scenario as run.json records it (``scenario_detail``) or any mapping with ``name``.

    >>> scenario_title({"name": "jobs_10k", "title": "10,000 jobs at Haixi", "title_zh": "海西新增1万个岗位"}, "zh")
    '海西新增1万个岗位'
    >>> scenario_title({"name": "jobs_10k"})
    'jobs_10k'
    """
    key = "title_zh" if lang == "zh" else "title"
    return detail.get(key) or detail.get("title") or detail.get("name", "")


def scenario_description(detail: dict, lang: str = "en") -> str:
    """A scenario's description in ``lang`` (``description_zh`` in Chinese when given, else the description)."""
    if lang == "zh" and detail.get("description_zh"):
        return detail["description_zh"]
    return detail.get("description", "")


_SECTOR = {"primary": ("primary", "第一产业"), "secondary": ("secondary", "第二产业"), "tertiary": ("tertiary", "第三产业")}
_SKILL = {"low": ("low", "低"), "middle": ("middle", "中等"), "high": ("high", "高")}
_PART = {"urban": ("urban", "城镇"), "rural": ("rural", "乡村")}


def _when(lever: dict, lang: str, once: bool = False) -> str:
    """When a lever acts: ``from`` a year (``in`` a year for a one-off event such as an opening), or over years."""
    if once and lever.get("year") is not None:
        return f"{lever['year']}年" if lang == "zh" else f"in {lever['year']}"
    if lever.get("years"):
        a, b = lever["years"]
        return f"{a}-{b}年" if lang == "zh" else f"over {a}-{b}"
    if lever.get("year") is not None:
        return f"{lever['year']}年起" if lang == "zh" else f"from {lever['year']}"
    return ""


def _place(ref, region, lang: str) -> str:
    """A township named by a lever, in ``lang``."""
    code = region.find_township(str(ref)) if region is not None else None
    if code is None:
        return str(ref)
    t = region.township(code)
    return t.name_zh if lang == "zh" else t.name_en


def _links(lever: dict, region, lang: str) -> str:
    """The links a link lever names: its project's name from the region's project table, else the link ids."""
    zh = lang == "zh"
    if lever.get("project"):
        names = {p.project for p in getattr(region, "projects", ()) if p.key == lever["project"] and p.project}
        if names:
            return "、".join(sorted(in_language(n, lang) for n in names)) if lang == "zh" else "; ".join(sorted(names))
        return lever["project"]
    named = {e.id: e.project for e in (*getattr(region, "edges", ()), *getattr(region, "projects", ())) if e.project}
    ids = [str(x) for x in lever.get("links") or []] + [str(x.get("id") or f"{x.get('from')}-{x.get('to')}")
                                                        for x in lever.get("new") or []]
    # English keeps a project's whole "local English" name: a proper name, Chinese first
    names = list(dict.fromkeys((in_language(named[i], lang) if zh else named[i]) if i in named else i for i in ids))
    return ("、" if lang == "zh" else "; ").join(names)


def lever_sentence(lever: dict, region=None, lang: str = "en") -> str:
    """What one lever does, as a sentence a planner reads (``lever`` as run.json records it: ``type`` and its fields,
    defaults left out).

    Parameters
    ----------
    lever : one entry of ``scenario_detail["levers"]``.
    region : the loaded region, for township and project names (without it, the lever's own references).
    lang : ``"en"`` or ``"zh"``.

    >>> lever_sentence({"type": "jobs", "township": "海西", "sector": "secondary", "jobs": 10000, "years": [2021, 2025]})
    '10,000 new secondary-sector jobs in 海西 over 2021-2025'
    >>> lever_sentence({"type": "hukou", "openness": 0.8, "year": 2022}, lang="zh")
    '户籍开放度调整为 0.80，2022年起'
    """
    kind = lever.get("type", "")
    zh = lang == "zh"
    when = _when(lever, lang, once=kind in ("add_link", "upgrade_link", "close_link", "add_station"))
    place = _place(lever.get("township"), region, lang) if lever.get("township") is not None else ""
    if kind == "jobs":
        jobs = float(lever["jobs"])
        sector = _SECTOR[lever["sector"]][1 if zh else 0]
        if zh:
            return f"{place}{'新增' if jobs >= 0 else '减少'}{sector}岗位 {abs(jobs):,.0f} 个，{when}"
        return f"{abs(jobs):,.0f} {'new' if jobs >= 0 else 'fewer'} {sector}-sector jobs in {place} {when}"
    if kind == "station_area":
        sec, ter, homes = (float(lever.get(k, 0.0)) for k in ("jobs_secondary", "jobs_tertiary", "housing_units"))
        if zh:
            return f"{place}站点片区开发：第二产业岗位 {sec:,.0f} 个、第三产业岗位 {ter:,.0f} 个、住房 {homes:,.0f} 套，{when}"
        return (f"Station-area development in {place}: {sec:,.0f} secondary and {ter:,.0f} tertiary jobs and "
                f"{homes:,.0f} dwellings {when}")
    if kind == "housing":
        part = _PART[lever.get("part", "urban")][1 if zh else 0]
        units = float(lever["units"])
        return (f"{place}{part}新增住房 {units:,.0f} 套，{when}" if zh
                else f"{units:,.0f} new {part} dwellings in {place} {when}")
    if kind == "reclassify":
        share = float(lever["share"])
        return (f"{place}乡村部分的 {share:.0%} 划为城镇，{when}" if zh
                else f"{share:.0%} of {place}'s rural part reclassified as urban {when}")
    if kind == "hukou":
        return (f"户籍开放度调整为 {float(lever['openness']):.2f}，{when}" if zh
                else f"Hukou openness set to {float(lever['openness']):.2f} {when}")
    if kind == "talent":
        persons = float(lever["persons_per_year"])
        skill = _SKILL[lever.get("skill", "high")][1 if zh else 0]
        where = place or ("全县" if zh else "the region")
        return (f"人才引进：每年引进{skill}技能人才 {persons:,.0f} 人至{where}，{when}" if zh
                else f"Talent programme: {persons:,.0f} {skill}-skill arrivals a year to {where} {when}")
    if kind == "fertility":
        tfr = lever["tfr"]
        if isinstance(tfr, dict):
            path = ("，" if zh else ", ").join(f"{y}{'年' if zh else ''} {float(v):.2f}" for y, v in sorted(tfr.items(), key=lambda kv: int(kv[0])))
            return f"总和生育率路径：{path}" if zh else f"Total fertility rate path: {path}"
        return (f"总和生育率 {float(tfr):.2f}，{when}" if zh else f"Total fertility rate {float(tfr):.2f} {when}").strip("，")
    if kind == "services":
        change = float(lever["change"])
        return (f"{place}公共服务水平{'提高' if change >= 0 else '降低'} {abs(change):.0%}，{when}" if zh
                else f"Services in {place} {'up' if change >= 0 else 'down'} {abs(change):.0%} {when}")
    if kind == "parameter":
        return (f"模型参数 {lever['name']} 取值 {lever['value']:g}，{when}" if zh
                else f"Model parameter {lever['name']} set to {lever['value']:g} {when}")
    if kind in ("add_link", "upgrade_link", "close_link"):
        what = _links(lever, region, lang)
        if kind == "add_link":
            return f"{when}开通：{what}" if zh else f"Opens {when}: {what}"
        if kind == "close_link":
            return f"{when}关闭：{what}" if zh else f"Closes {when}: {what}"
        speed = f"，设计时速 {lever['speed_kmh']:g} 公里" if zh and lever.get("speed_kmh") else (
            f" to {lever['speed_kmh']:g} km/h" if lever.get("speed_kmh") else "")
        return f"{when}提升：{what}{speed}" if zh else f"Upgraded{speed} {when}: {what}"
    if kind == "add_station":
        station = lever.get("station")
        if isinstance(station, dict):
            name = station.get("name") or station.get("id")
        else:
            node = getattr(region, "nodes", {}).get(str(station))
            name = node.name if node is not None else str(station)
        return (f"{place}设站（{in_language(name, lang)}），{when}" if zh
                else f"A station ({name}) serves {place} {when}")
    return kind + (f" ({when})" if when else "")
