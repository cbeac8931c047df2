use geo_types::{point, polygon, Geometry, MultiPolygon};
use serde_json::json;

use super::*;
use crate::Feature;

fn prop(name: &str) -> Scalar {
    Scalar::property(name)
}

fn int(i: i64) -> Scalar {
    Scalar::literal(Literal::Integer(i))
}

fn text(s: &str) -> Scalar {
    Scalar::literal(Literal::Text(s.to_string()))
}

fn cmp(op: CmpOp, l: Scalar, r: Scalar) -> Expr {
    Expr::Compare { op, left: l, right: r }
}

fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

fn parse(s: &str) -> Expr {
    Expr::parse_text(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn every_operator_parses_to_its_tree() {
    let cases: Vec<(&str, Expr)> = vec![
        ("dwelling_units = 3", cmp(CmpOp::Eq, prop("dwelling_units"), int(3))),
        ("dwelling_units <> 3", cmp(CmpOp::Ne, prop("dwelling_units"), int(3))),
        ("area_m2 < 2.5", cmp(CmpOp::Lt, prop("area_m2"), Scalar::literal(Literal::Real(2.5)))),
        ("area_m2 <= -1e3", cmp(CmpOp::Le, prop("area_m2"), Scalar::literal(Literal::Real(-1000.0)))),
        ("year_built > 1900", cmp(CmpOp::Gt, prop("year_built"), int(1900))),
        ("year_built >= 1900", cmp(CmpOp::Ge, prop("year_built"), int(1900))),
        ("land_use LIKE 'Res%'", Expr::Like { value: prop("land_use"), pattern: text("Res%") }),
        ("land_use NOT LIKE 'Res%'", not(Expr::Like { value: prop("land_use"), pattern: text("Res%") })),
        (
            "year_built BETWEEN 1900 AND 1950",
            Expr::Between { value: prop("year_built"), low: int(1900), high: int(1950) },
        ),
        (
            "year_built not between 1900 and 1950",
            not(Expr::Between { value: prop("year_built"), low: int(1900), high: int(1950) }),
        ),
        ("code IN ('a', 'b')", Expr::In { value: prop("code"), list: vec![text("a"), text("b")] }),
        ("code NOT IN ('a')", not(Expr::In { value: prop("code"), list: vec![text("a")] })),
        ("address IS NULL", Expr::IsNull(prop("address"))),
        ("address IS NOT NULL", not(Expr::IsNull(prop("address")))),
        ("public_owner = TRUE", cmp(CmpOp::Eq, prop("public_owner"), Scalar::literal(Literal::Boolean(true)))),
        (
            "CASEI(land_use) = casei('RES')",
            cmp(CmpOp::Eq, Scalar::Casei(Box::new(prop("land_use"))), Scalar::Casei(Box::new(text("RES")))),
        ),
        ("\"land use\" = 'x'", cmp(CmpOp::Eq, prop("land use"), text("x"))),
        ("name = 'O''Brien'", cmp(CmpOp::Eq, prop("name"), text("O'Brien"))),
        (
            "received_at >= TIMESTAMP('2026-11-02T10:00:00+01:00')",
            cmp(CmpOp::Ge, prop("received_at"), Scalar::literal(Literal::Timestamp("2026-11-02T09:00:00.000Z".into()))),
        ),
        ("d = DATE('2026-01-31')", cmp(CmpOp::Eq, prop("d"), Scalar::literal(Literal::Date("2026-01-31".into())))),
        (
            "S_INTERSECTS(geometry, POINT(-71.1 42.37))",
            Expr::Spatial {
                op: SpatialOp::Intersects,
                left: GeomOperand::Property { name: "geometry".into(), at: At::Unknown },
                right: GeomOperand::Literal { geometry: point!(x: -71.1, y: 42.37).into(), at: At::Unknown },
            },
        ),
        (
            "s_within(geometry, BBOX(0, 1, 2, 3))",
            Expr::Spatial {
                op: SpatialOp::Within,
                left: GeomOperand::Property { name: "geometry".into(), at: At::Unknown },
                right: GeomOperand::Literal {
                    geometry: polygon![(x: 0., y: 1.), (x: 2., y: 1.), (x: 2., y: 3.), (x: 0., y: 3.), (x: 0., y: 1.)]
                        .into(),
                    at: At::Unknown,
                },
            },
        ),
        (
            "S_DWITHIN(geometry, POINT(1 2), 150)",
            Expr::DWithin {
                left: GeomOperand::Property { name: "geometry".into(), at: At::Unknown },
                right: GeomOperand::Literal { geometry: point!(x: 1., y: 2.).into(), at: At::Unknown },
                metres: 150.0,
            },
        ),
    ];
    for (text, expect) in cases {
        assert_eq!(parse(text), expect, "{text}");
    }
}

#[test]
fn wkt_literals_of_every_kind() {
    for (wkt, kind) in [
        ("POINT(1 2)", "Point"),
        ("POINT Z(1 2 3)", "Point"),
        ("LINESTRING(0 0, 1 1)", "LineString"),
        ("POLYGON((0 0, 1 0, 1 1, 0 0))", "Polygon"),
        ("POLYGON((0 0, 4 0, 4 4, 0 0), (1 1, 2 1, 2 2, 1 1))", "Polygon"),
        ("MULTIPOINT((0 0), (1 1))", "MultiPoint"),
        ("MULTIPOINT(0 0, 1 1)", "MultiPoint"),
        ("MULTILINESTRING((0 0, 1 1), (2 2, 3 3))", "MultiLineString"),
        ("MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))", "MultiPolygon"),
        ("GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))", "GeometryCollection"),
    ] {
        let e = parse(&format!("S_INTERSECTS(geometry, {wkt})"));
        let Expr::Spatial { right: GeomOperand::Literal { geometry, .. }, .. } = &e else { panic!("{e:?}") };
        assert_eq!(crate::validate::geometry_name(geometry).replace(' ', ""), kind, "{wkt}");
    }
}

#[test]
fn and_binds_tighter_than_or_and_not_tighter_than_and() {
    let a = cmp(CmpOp::Eq, prop("a"), int(1));
    let b = cmp(CmpOp::Eq, prop("b"), int(2));
    let c = cmp(CmpOp::Eq, prop("c"), int(3));
    assert_eq!(parse("a = 1 OR b = 2 AND c = 3"), Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])]));
    assert_eq!(parse("(a = 1 OR b = 2) AND c = 3"), Expr::And(vec![Expr::Or(vec![a.clone(), b.clone()]), c.clone()]));
    assert_eq!(parse("NOT a = 1 AND b = 2"), Expr::And(vec![not(a.clone()), b.clone()]));
    assert_eq!(parse("NOT (a = 1 AND b = 2)"), not(Expr::And(vec![a.clone(), b.clone()])));
    assert_eq!(parse("a = 1 and b = 2 or c = 3"), Expr::Or(vec![Expr::And(vec![a.clone(), b]), c]));
    // BETWEEN's AND belongs to BETWEEN.
    let between = Expr::Between { value: prop("a"), low: int(1), high: int(2) };
    assert_eq!(parse("a BETWEEN 1 AND 2 AND a = 1"), Expr::And(vec![between, a]));
    // A keyword inside a name is not a keyword.
    assert_eq!(parse("android = 1 OR order_no = 2").to_text(), "(\"android\" = 1) OR (\"order_no\" = 2)");
}

fn text_error(s: &str) -> Cql2Error {
    Expr::parse_text(s).expect_err(s)
}

#[test]
fn syntax_errors_point_at_the_character() {
    let e = text_error("code = 'a' AND");
    assert_eq!(e.kind, Cql2ErrorKind::Syntax);
    assert!(matches!(e.location, Location::Text { offset: 14, .. }), "{e}");
    assert!(e.to_string().contains("at character 14"), "{e}");
    assert!(e.to_string().contains("the end of the filter"), "{e}");

    let e = text_error("code == 'a'");
    assert!(
        matches!(e.location, Location::Text { offset: 6, .. })
            || matches!(e.location, Location::Text { offset: 5, .. }),
        "{e}"
    );

    let e = text_error("code = 'unterminated");
    assert!(matches!(e.location, Location::Text { offset: 7, .. }), "{e}");

    // Offsets count characters, not bytes.
    let e = text_error("name = 'Zürich' AND AND");
    assert!(matches!(e.location, Location::Text { offset: 20, .. }), "{e}");
    assert!(e.to_string().contains("⟨here⟩AND"), "{e}");

    let e = text_error("S_INTERSECTS(geometry, POINT(1))");
    assert!(matches!(e.location, Location::Text { offset: 30, .. }), "{e}");

    let e = text_error("S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 0 0)))");
    assert_eq!(e.kind, Cql2ErrorKind::Invalid);
    assert!(e.to_string().contains("ring"), "{e}");

    let e = text_error("d = DATE('2026-02-30')");
    assert!(matches!(e.location, Location::Text { offset: 9, .. }), "{e}");
    assert!(e.to_string().contains("`2026-02-30` is not a date"), "{e}");

    let e = text_error("S_DWITHIN(geometry, POINT(1 2), -5)");
    assert!(matches!(e.location, Location::Text { offset: 32, .. }), "{e}");
}

#[test]
fn checking_names_unknown_properties_and_wrong_types_where_they_are() {
    let e = Filter::from_text(LayerId::Parcels, "code = 'x' AND lnd_use = 'y'").unwrap_err();
    assert_eq!(e.kind, Cql2ErrorKind::UnknownProperty("lnd_use".into()));
    assert!(matches!(e.location, Location::Text { offset: 15, .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("unknown property `lnd_use`") && msg.contains("land_use"), "{msg}");

    let e = Filter::from_text(LayerId::Parcels, "year_built = 'old'").unwrap_err();
    assert_eq!(e.kind, Cql2ErrorKind::Invalid);
    assert!(matches!(e.location, Location::Text { offset: 13, .. }), "{e}");
    assert!(e.to_string().contains("`year_built` is a number, 'old' is text"), "{e}");

    let e = Filter::from_text(LayerId::Parcels, "year_built LIKE '19%'").unwrap_err();
    assert!(e.to_string().contains("LIKE works on text"), "{e}");

    let e = Filter::from_text(LayerId::Permits, "received_at > '2026-01-01'").unwrap_err();
    assert!(e.to_string().contains("TIMESTAMP("), "{e}");
    let e = Filter::from_text(LayerId::Permits, "received_at > DATE('2026-01-01')").unwrap_err();
    assert!(e.to_string().contains("TIMESTAMP("), "{e}");
    Filter::from_text(LayerId::Permits, "received_at > TIMESTAMP('2026-01-01T00:00:00Z')").unwrap();

    // Private and JSON fields are not queryable.
    let e = Filter::from_text(LayerId::Permits, "applicant IS NULL").unwrap_err();
    assert_eq!(e.kind, Cql2ErrorKind::UnknownProperty("applicant".into()));
    let e = Filter::from_text(LayerId::Permits, "parcel_codes IS NULL").unwrap_err();
    assert!(e.to_string().contains("holds JSON"), "{e}");

    // Spatial predicates need the geometry.
    let e = Filter::from_text(LayerId::Procedures, "S_INTERSECTS(geometry, POINT(1 2))").unwrap_err();
    assert!(e.to_string().contains("procedures has no geometry"), "{e}");
    let e = Filter::from_text(LayerId::Parcels, "S_INTERSECTS(code, POINT(1 2))").unwrap_err();
    assert!(e.to_string().contains("`code` is not a geometry"), "{e}");
    let e = Filter::from_text(LayerId::Parcels, "geometry = 'x'").unwrap_err();
    assert!(e.to_string().contains("spatial predicates"), "{e}");
    let e = Filter::from_text(LayerId::Parcels, "public_owner > FALSE").unwrap_err();
    assert!(e.to_string().contains("booleans compare with = and <> only"), "{e}");

    // A filter moves to another layer only if it fits it.
    let roads = Filter::from_text(LayerId::Roads, "speed_kmh > 30").unwrap();
    let e = roads.for_layer(LayerId::Parcels).unwrap_err();
    assert_eq!(e.kind, Cql2ErrorKind::UnknownProperty("speed_kmh".into()));
    assert_eq!(e.location, Location::Unknown);
}

#[test]
fn json_parses_to_the_same_trees_and_errors_carry_pointers() {
    let j = json!({"op": "and", "args": [
        {"op": "=", "args": [{"property": "code"}, "1-2"]},
        {"op": "not", "args": [{"op": "isNull", "args": [{"property": "address"}]}]},
        {"op": "between", "args": [{"property": "year_built"}, 1900, 1950]},
        {"op": "in", "args": [{"property": "land_use"}, ["A", "B"]]},
        {"op": "like", "args": [{"op": "casei", "args": [{"property": "land_use"}]}, "res%"]},
        {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [-71.1, 42.37]}]},
        {"op": "s_dwithin", "args": [{"property": "geometry"}, {"bbox": [-71.2, 42.3, -71.1, 42.4]}, 250]}
    ]});
    let from_json = Expr::from_json(&j).unwrap();
    let from_text = parse(
        "code = '1-2' AND address IS NOT NULL AND year_built BETWEEN 1900 AND 1950 AND land_use IN ('A', 'B') \
         AND CASEI(land_use) LIKE 'res%' AND S_INTERSECTS(geometry, POINT(-71.1 42.37)) \
         AND S_DWITHIN(geometry, BBOX(-71.2, 42.3, -71.1, 42.4), 250)",
    );
    assert_eq!(from_json, from_text);
    Filter::from_json(LayerId::Parcels, &j.to_string()).unwrap();

    let pointer = |v: serde_json::Value| match Filter::from_json(LayerId::Parcels, &v.to_string()) {
        Err(Cql2Error { location: Location::Json { pointer }, message, .. }) => (pointer, message),
        other => panic!("{other:?}"),
    };
    let (p, m) = pointer(json!({"op": "and", "args": [
        {"op": "=", "args": [{"property": "code"}, "x"]},
        {"op": "=", "args": [{"property": "nope"}, 1]}]}));
    assert_eq!(p, "/args/1/args/0");
    assert!(m.contains("`nope`"), "{m}");
    let (p, _) = pointer(json!({"op": "in", "args": [{"property": "code"}, ["a", 3]]}));
    assert_eq!(p, "/args/1/1");
    let (p, m) = pointer(json!({"op": "~", "args": []}));
    assert_eq!(p, "/op");
    assert!(m.contains("unknown operator `~`"), "{m}");
    let (p, _) =
        pointer(json!({"op": "s_within", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": "x"}]}));
    assert_eq!(p, "/args/1");
    let (p, _) = pointer(json!({"op": "=", "args": [{"property": "code"}]}));
    assert_eq!(p, "/args");
    let e = Filter::from_json(LayerId::Parcels, "{\"op\": ").unwrap_err();
    assert!(e.to_string().starts_with("not JSON"), "{e}");
    assert!(e.to_string().contains("at JSON pointer") || e.location == Location::Unknown);
}

#[test]
fn text_and_json_round_trip() {
    let filters = [
        "code = 'a' OR code = 'b' AND NOT (year_built < 1900)",
        "(code = 'a' OR code = 'b') AND year_built >= 1900.5",
        "land_use NOT LIKE '%Res\\_1%' AND address IS NOT NULL",
        "name = 'it''s''; DROP TABLE parcels; --'",
        "year_built NOT BETWEEN -5 AND 7 OR code NOT IN ('x', 'y', 'z')",
        "CASEI(land_use) = CASEI('Commercial') AND public_owner <> FALSE",
        "received_at BETWEEN TIMESTAMP('2026-01-01T00:00:00Z') AND TIMESTAMP('2026-12-31T23:59:59.999Z')",
        "S_CONTAINS(geometry, MULTIPOINT((0.1 0.2), (0.3 0.4))) OR S_WITHIN(BBOX(-1, -1, 1, 1), geometry)",
        "S_INTERSECTS(geometry, GEOMETRYCOLLECTION(POINT(1 2), POLYGON((0 0, 1 0, 1 1, 0 0))))",
        "S_DWITHIN(geometry, LINESTRING(-71.123456789 42.1, -71.2 42.2), 12.75)",
        "NOT NOT a = 1",
    ];
    for f in filters {
        let e = parse(f);
        let again = parse(&e.to_text());
        assert_eq!(again, e, "{f} → {}", e.to_text());
        let from_json = Expr::from_json(&e.to_json()).unwrap();
        assert_eq!(from_json, e, "{f} → {}", e.to_json());
    }
}

fn parcel(id: &str, lon: f64, lat: f64) -> Feature {
    let d = 0.0005;
    let sq = polygon![(x: lon, y: lat), (x: lon + d, y: lat), (x: lon + d, y: lat + d), (x: lon, y: lat + d), (x: lon, y: lat)];
    Feature::new(id, Some(MultiPolygon(vec![sq]).into()))
}

#[test]
fn evaluation_follows_sql_three_valued_logic() {
    let with =
        parcel("p1", -71.1, 42.37).with("land_use", "Residential").with("year_built", 1920).with("public_owner", false);
    let without = parcel("p2", -71.1, 42.37);
    let m = |f: &str, feature: &Feature| Filter::from_text(LayerId::Parcels, f).unwrap().matches(feature);
    assert!(m("year_built = 1920", &with));
    assert!(m("year_built = 1920.0", &with));
    assert!(!m("year_built = 1920", &without));
    // Unknown stays unknown under NOT.
    assert!(!m("NOT (year_built = 1921)", &without));
    assert!(m("NOT (year_built = 1921)", &with));
    assert!(m("year_built = 1921 OR id = 'p2'", &without));
    assert!(!m("year_built IN (1, 2) OR year_built NOT IN (1, 2)", &without));
    assert!(m("year_built IS NULL", &without) && !m("year_built IS NULL", &with));
    assert!(m("year_built BETWEEN 1920 AND 1920", &with));
    assert!(m("land_use LIKE 'Res%'", &with) && !m("land_use LIKE 'res%'", &with));
    assert!(m("CASEI(land_use) LIKE 'res%'", &with));
    assert!(m("land_use LIKE 'R_sidential'", &with) && !m("land_use LIKE 'R\\_sidential'", &with));
    assert!(m("public_owner = FALSE", &with));
    assert!(m("id > 'p1'", &without) && m("id <= 'p1'", &with));

    assert!(m("S_INTERSECTS(geometry, POINT(-71.0998 42.3702))", &with));
    assert!(!m("S_INTERSECTS(geometry, POINT(-71.2 42.3702))", &with));
    assert!(m("S_WITHIN(geometry, BBOX(-71.2, 42.3, -71.0, 42.4))", &with));
    assert!(m("S_CONTAINS(BBOX(-71.2, 42.3, -71.0, 42.4), geometry)", &with));
    assert!(m("S_CONTAINS(geometry, POINT(-71.0998 42.3702))", &with));
    assert!(!m("S_WITHIN(geometry, POINT(-71.0998 42.3702))", &with));
    // 0.001° of longitude at 42.37° N is about 82 m from the parcel's west edge.
    assert!(m("S_DWITHIN(geometry, POINT(-71.101 42.3702), 90)", &with));
    assert!(!m("S_DWITHIN(geometry, POINT(-71.101 42.3702), 75)", &with));
    let no_geometry = Feature::new("p3", None);
    assert!(!m("NOT S_INTERSECTS(geometry, POINT(0 0))", &no_geometry));
}

#[test]
fn like_matches_as_sql_does() {
    use super::eval::like;
    assert!(like("abc", "abc") && like("abc", "a%") && like("abc", "%c") && like("abc", "%") && like("", "%"));
    assert!(like("abc", "a_c") && !like("abc", "a_") && !like("abc", "ab"));
    assert!(like("a%c", "a\\%c") && !like("abc", "a\\%c"));
    assert!(like("Zürich", "Z_rich") && like("aXbXc", "%X%X%") && !like("aXb", "%X%X%"));
}

#[test]
fn implied_boxes_bound_every_match() {
    let f = |s: &str| Filter::from_text(LayerId::Parcels, s).unwrap().implied_bbox();
    let b = f("S_INTERSECTS(geometry, BBOX(0, 0, 2, 2)) AND code = 'a'").unwrap();
    assert_eq!((b.min().x, b.min().y, b.max().x, b.max().y), (0.0, 0.0, 2.0, 2.0));
    let b = f("S_WITHIN(geometry, BBOX(0, 0, 2, 2)) AND S_INTERSECTS(geometry, BBOX(1, 1, 3, 3))").unwrap();
    assert_eq!((b.min().x, b.min().y, b.max().x, b.max().y), (1.0, 1.0, 2.0, 2.0));
    let b = f("S_INTERSECTS(geometry, POINT(0 0)) OR S_INTERSECTS(geometry, POINT(5 1))").unwrap();
    assert_eq!((b.min().x, b.min().y, b.max().x, b.max().y), (0.0, 0.0, 5.0, 1.0));
    assert!(f("S_INTERSECTS(geometry, POINT(0 0)) OR code = 'a'").is_none());
    assert!(f("NOT S_INTERSECTS(geometry, POINT(0 0))").is_none());
    assert!(f("code = 'a'").is_none());
    let b = f("S_DWITHIN(geometry, POINT(0 0), 1000)").unwrap();
    assert!(b.max().x > 0.0089 && b.max().x < 0.0091 && b.min().y < -0.0089, "{b:?}");
}

#[test]
fn geometry_literals_can_be_replaced() {
    let mut f = Filter::from_text(
        LayerId::Parcels,
        "S_INTERSECTS(geometry, POINT(1 2)) AND NOT S_DWITHIN(geometry, POINT(3 4), 5)",
    )
    .unwrap();
    f.map_geometries(|g| {
        if let Geometry::Point(p) = g {
            *p = point!(x: p.y(), y: p.x());
        }
    });
    let mut seen = vec![];
    f.expr().visit_geometries(&mut |g| seen.push(g.clone()));
    assert_eq!(seen, vec![Geometry::from(point!(x: 2., y: 1.)), point!(x: 4., y: 3.).into()]);
    let r: Result<(), &str> = f.try_map_geometries(|_| Err("out of area"));
    assert_eq!(r, Err("out of area"));
    assert_eq!(f.implied_bbox().map(|b| b.min().x), Some(2.0), "unchanged after a failure");
}
