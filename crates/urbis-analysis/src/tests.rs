//! Hand-made networks whose answers are known by hand, on the equator with coordinates that are
//! exact binary fractions of a degree, so that equal-looking edges have exactly equal lengths.

use geo::{Coord, Distance, Geodesic, Geometry, LineString, MultiLineString, Point};
use urbis_core::Feature;

use crate::coverage::{coverage, AccessLeg, CoverageOptions};
use crate::mode::{Speeds, TravelMode};
use crate::network::{NetworkOptions, RoadNetwork};
use crate::origins::{Origins, ParcelWeight};
use crate::paths::{nearest_centres, Direction, Metric, Seed};
use crate::AnalysisError;

/// 1/128 degree: about 870 m on the equator.
const D: f64 = 0.0078125;

fn at(x: f64, y: f64) -> Coord {
    Coord { x: x * D, y: y * D }
}

fn road(id: &str, points: &[(f64, f64)]) -> Feature {
    let line = LineString(points.iter().map(|&(x, y)| at(x, y)).collect());
    Feature::new(id, Some(Geometry::MultiLineString(MultiLineString(vec![line]))))
}

fn point(id: &str, x: f64, y: f64) -> Feature {
    Feature::new(id, Some(Point(at(x, y)).into()))
}

fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    Geodesic.distance(Point(at(a.0, a.1)), Point(at(b.0, b.1)))
}

fn net(roads: &[Feature]) -> RoadNetwork {
    RoadNetwork::from_roads(roads, &NetworkOptions::default()).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

const WALK: f64 = 4.8 / 3.6;

#[test]
fn a_straight_street_by_hand() {
    let n = net(&[road("ab", &[(0., 0.), (1., 0.)]), road("bc", &[(1., 0.), (2., 0.)])]);
    assert_eq!((n.nodes.len(), n.edges.len(), n.report().components.count), (3, 2, 1));
    let g = n.graph(TravelMode::Walk, &Speeds::default()).unwrap();
    let homes = Origins::from_points(&[point("home", 0., 0.)], None);
    let centres = Origins::from_points(&[point("hall", 2., 0.)], None);
    let r = coverage(&g, &homes, &centres, &CoverageOptions::default()).unwrap();
    let o = &r.origins[0];
    let m = metres((0., 0.), (2., 0.));
    assert!(close(o.network_m.unwrap(), m), "{o:?}");
    assert!(close(o.path_m.unwrap(), m));
    assert!(close(o.time_s.unwrap(), m / WALK), "{} vs {}", o.time_s.unwrap(), m / WALK);
    assert!(close(o.straight_m.unwrap(), m));
    assert_eq!(o.snap.unwrap().distance_m, 0.0);
    // 1,738 m: 21.7 minutes walking, within 30 minutes and within 5 km.
    assert!(o.by_time && o.by_network_km && o.by_straight_km);
    let tight = CoverageOptions { minutes: 20.0, km: 1.5, ..CoverageOptions::default() };
    let r = coverage(&g, &homes, &centres, &tight).unwrap();
    let o = &r.origins[0];
    assert!(!o.by_time && !o.by_network_km && !o.by_straight_km, "{o:?}");
}

#[test]
fn one_way_streets_bind_drivers_only_and_the_direction_is_the_residents() {
    // A one-way ring a → b → c → d → a, 1 cell a side.
    let mut roads = vec![
        road("ab", &[(0., 0.), (1., 0.)]),
        road("bc", &[(1., 0.), (1., 1.)]),
        road("cd", &[(1., 1.), (0., 1.)]),
        road("da", &[(0., 1.), (0., 0.)]),
    ];
    for r in &mut roads {
        r.attributes.insert("oneway".into(), 1.into());
        r.attributes.insert("speed_kmh".into(), 36.0.into()); // 10 m/s
    }
    // Digitised backwards but one-way against it: still a → b in travel.
    roads[0] = road("ab", &[(1., 0.), (0., 0.)]).with("oneway", -1).with("speed_kmh", 36.0);
    let n = net(&roads);
    let side = metres((0., 0.), (1., 0.));
    let up = metres((1., 0.), (1., 1.));
    let top = metres((1., 1.), (0., 1.));
    let speeds = Speeds::default();
    let home_at_b = Origins::from_points(&[point("b", 1., 0.)], None);
    let centre_at_a = Origins::from_points(&[point("a", 0., 0.)], None);
    let drive = n.graph(TravelMode::Drive, &speeds).unwrap();
    let r = coverage(&drive, &home_at_b, &centre_at_a, &CoverageOptions::default()).unwrap();
    // b → a only round the ring: b → c → d → a.
    let round = up + top + up;
    assert!(close(r.origins[0].time_s.unwrap(), round / 10.0), "{:?}", r.origins[0]);
    assert!(close(r.origins[0].path_m.unwrap(), round));
    // The centre going out to b (a fire engine) takes the short way.
    let out = CoverageOptions { direction: Direction::FromCentre, ..CoverageOptions::default() };
    let r = coverage(&drive, &home_at_b, &centre_at_a, &out).unwrap();
    assert!(close(r.origins[0].time_s.unwrap(), side / 10.0), "{:?}", r.origins[0]);
    // Walking ignores one-way signs.
    let walk = n.graph(TravelMode::Walk, &speeds).unwrap();
    let r = coverage(&walk, &home_at_b, &centre_at_a, &CoverageOptions::default()).unwrap();
    assert!(close(r.origins[0].time_s.unwrap(), side / WALK));
    // Node labels: every node's time to the centre at a, round the ring.
    let t = &r.nodes_by_time;
    assert_eq!(t.centre, vec![Some(0); 4]);
    let r = coverage(&drive, &home_at_b, &centre_at_a, &CoverageOptions::default()).unwrap();
    let mut times: Vec<f64> = r.nodes_by_time.cost.clone();
    times.sort_by(f64::total_cmp);
    assert!(
        close(times[1], up / 10.0) && close(times[2], (up + top) / 10.0) && close(times[3], round / 10.0),
        "{times:?}"
    );
}

#[test]
fn two_components_are_reported_and_origins_snap_to_the_largest() {
    let n = net(&[
        road("ab", &[(0., 0.), (1., 0.)]),
        road("bc", &[(1., 0.), (2., 0.)]),
        road("island", &[(0., 10.), (1., 10.)]),
    ]);
    let c = &n.report().components;
    assert_eq!((c.count, c.largest_nodes, c.largest_edges), (2, 3, 2));
    let total = metres((0., 0.), (2., 0.)) + metres((0., 10.), (1., 10.));
    assert!(close(c.largest_length_share, metres((0., 0.), (2., 0.)) / total), "{c:?}");
    let g = n.graph(TravelMode::Walk, &Speeds::default()).unwrap();
    // A home on the island is 8.7 km from the main network: not snapped, said so.
    let homes = Origins::from_points(&[point("islander", 0.5, 10.), point("mainland", 1., 0.)], None);
    let centres = Origins::from_points(&[point("hall", 0., 0.), point("lighthouse", 1., 10.)], None);
    let r = coverage(&g, &homes, &centres, &CoverageOptions::default()).unwrap();
    let islander = &r.origins[0];
    assert!(islander.time_s.is_none() && !islander.by_time, "{islander:?}");
    assert!(
        islander.unreached.as_deref().unwrap().contains("from the nearest road of the walk network"),
        "{islander:?}"
    );
    // Its straight-line distance is still measured: 435 m to the lighthouse.
    assert_eq!(islander.straight_centre, Some(1));
    assert!(islander.by_straight_km);
    assert!(r.centres[1].unusable.is_some() && r.centres[0].unusable.is_none());
    assert_eq!(r.summary.unreached.origins, 1);
    assert_eq!(r.summary.by_time.origins, 1);
    assert_eq!(r.summary.by_time_or_straight_km.origins, 2);
    // With every centre off the network, an error that names one.
    let only_island = Origins::from_points(&[point("lighthouse", 1., 10.)], None);
    match coverage(&g, &homes, &only_island, &CoverageOptions::default()) {
        Err(AnalysisError::NoUsableCentre { centres: 1, first: Some(f), .. }) => {
            assert!(f.contains("lighthouse"), "{f}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ties_go_to_the_shorter_path_then_the_first_centre() {
    let n = net(&[road("ab", &[(0., 0.), (1., 0.)]), road("bc", &[(1., 0.), (2., 0.)])]);
    assert_eq!(metres((0., 0.), (1., 0.)), metres((1., 0.), (2., 0.)), "the test needs exactly equal edges");
    let g = n.graph(TravelMode::Walk, &Speeds::default()).unwrap();
    let homes = Origins::from_points(&[point("middle", 1., 0.)], None);
    for (first, second) in [("west", "east"), ("east", "west")] {
        let x = |id: &str| if id == "west" { 0. } else { 2. };
        let centres = Origins::from_points(&[point(first, x(first), 0.), point(second, x(second), 0.)], None);
        let r = coverage(&g, &homes, &centres, &CoverageOptions::default()).unwrap();
        assert_eq!(r.origins[0].centre, Some(0), "{first} listed first");
        assert_eq!(r.origins[0].network_centre, Some(0));
        assert_eq!(r.catchments[0].origins, 1);
        assert_eq!(r.catchments[1].origins, 0);
    }
}

#[test]
fn origins_and_centres_part_way_along_one_edge() {
    // One 4-cell street, home at 1 cell and 0.5 cell north, centre at 3 cells on the street.
    let n = net(&[road("long", &[(0., 0.), (4., 0.)])]);
    let g = n.graph(TravelMode::Walk, &Speeds::default()).unwrap();
    let homes = Origins::from_points(&[point("home", 1., 0.5)], None);
    let centres = Origins::from_points(&[point("hall", 3., 0.)], None);
    let r = coverage(&g, &homes, &centres, &CoverageOptions::default()).unwrap();
    let o = &r.origins[0];
    let leg = metres((1., 0.5), (1., 0.));
    let along = metres((1., 0.), (3., 0.));
    let s = o.snap.unwrap();
    assert!((s.distance_m - leg).abs() < 0.5, "{s:?} vs {leg}");
    assert!((s.offset_m - metres((0., 0.), (1., 0.))).abs() < 0.5, "{s:?}");
    assert!((o.network_m.unwrap() - (leg + along)).abs() < 1.0, "{o:?}");
    assert!((o.time_s.unwrap() - (leg + along) / WALK).abs() < 1.0, "{o:?}");
    // Without the access leg, only the street counts.
    let no_leg = CoverageOptions { access_leg: AccessLeg::Ignored, ..CoverageOptions::default() };
    let r = coverage(&g, &homes, &centres, &no_leg).unwrap();
    assert!((r.origins[0].network_m.unwrap() - along).abs() < 0.5, "{:?}", r.origins[0]);
}

#[test]
fn bad_roads_parcels_and_speeds_are_reported_by_name() {
    let mut no_geometry = road("nothing", &[]);
    no_geometry.geometry = None;
    let n = net(&[
        road("ok", &[(0., 0.), (1., 0.)]),
        no_geometry,
        Feature::new("dot", Some(Point(at(0., 0.)).into())),
        road("stuck", &[(3., 3.), (3., 3.)]),
    ]);
    let reasons: Vec<String> = n.report().unjoined.iter().map(|u| format!("{}: {}", u.id, u.reason)).collect();
    assert_eq!(
        reasons,
        ["nothing: no geometry", "dot: not a line but a point", "stuck: degenerate: fewer than two distinct positions"]
    );
    let zero = Speeds { walk_kmh: 0.0, ..Speeds::default() };
    let err = n.graph(TravelMode::Walk, &zero).unwrap_err();
    assert_eq!(err, AnalysisError::InvalidParameter { what: "walking speed (km/h)".into(), value: 0.0 });
    let mut classes = Speeds::default();
    classes.drive_class_kmh.insert("residential".into(), f64::NAN);
    assert!(n.graph(TravelMode::Drive, &classes).unwrap_err().to_string().contains("class `residential`"));
    let g = n.graph(TravelMode::Walk, &Speeds::default()).unwrap();
    let bad = CoverageOptions { minutes: 0.0, ..CoverageOptions::default() };
    let c = Origins::from_points(&[point("c", 0., 0.)], None);
    assert!(coverage(&g, &c, &c, &bad).unwrap_err().to_string().contains("time limit"));
    // No road at all.
    match RoadNetwork::from_roads(&[Feature::new("dot", Some(Point(at(0., 0.)).into()))], &NetworkOptions::default()) {
        Err(AnalysisError::NoNetwork { roads: 1, unjoined: 1, first: Some(f) }) => assert!(f.contains("dot")),
        other => panic!("{other:?}"),
    }
    // Footways only: nothing to drive on.
    let paths = net(&[road("path", &[(0., 0.), (1., 0.)]).with("class", "footway")]);
    assert_eq!(
        paths.graph(TravelMode::Drive, &Speeds::default()).unwrap_err(),
        AnalysisError::NoRoadsForMode { mode: TravelMode::Drive }
    );
    // A parcel without geometry and one with a negative population.
    let mut ghost = point("ghost", 0., 0.);
    ghost.geometry = None;
    let parcels =
        [ghost, point("minus", 0., 0.).with("population", -3.0), point("fine", 0., 0.).with("population", 2.5)];
    let o = Origins::from_parcels(&parcels, ParcelWeight::Auto);
    assert_eq!(o.weight_field.as_deref(), Some("population"));
    assert_eq!(o.origins.len(), 1);
    let problems: Vec<String> = o.problems.iter().map(|p| format!("{}: {}", p.id, p.reason)).collect();
    assert_eq!(problems, ["ghost: no geometry", "minus: `population` is -3.0, not a weight (a number, 0 or more)"]);
}

#[test]
fn parcel_weights_come_from_what_the_parcels_have() {
    let units = [point("a", 0., 0.).with("dwelling_units", 4), point("b", 0., 0.)];
    let o = Origins::from_parcels(&units, ParcelWeight::Auto);
    assert_eq!(o.weight_field.as_deref(), Some("dwelling_units"));
    assert_eq!(o.origins.iter().map(|o| o.weight).collect::<Vec<_>>(), [4.0, 0.0]);
    assert_eq!(o.weight_missing, 1);
    let o = Origins::from_parcels(&units, ParcelWeight::One);
    assert_eq!((o.total_weight(), o.weight_field.clone()), (2.0, None));
}

#[test]
fn source_node_ids_join_ends_that_geometry_would_not_unless_they_are_far_apart() {
    // Two streets whose ends are 0.005 cell (4.3 m) apart, but the source says they meet at "7".
    let roads = [
        road("w", &[(0., 0.), (1., 0.)]).with("from_node", "1").with("to_node", "7"),
        road("e", &[(1.005, 0.), (2., 0.)]).with("from_node", "7").with("to_node", "9"),
    ];
    let joined = net(&roads);
    assert_eq!((joined.nodes.len(), joined.report().components.count), (3, 1));
    assert!(joined.report().source_node_mismatches.is_empty());
    let by_geometry =
        RoadNetwork::from_roads(&roads, &NetworkOptions { use_source_nodes: false, ..NetworkOptions::default() })
            .unwrap();
    assert_eq!((by_geometry.nodes.len(), by_geometry.report().components.count), (4, 2));
    // 0.2 cell (174 m) apart: the id is not trusted, the end is joined by geometry, and listed.
    let far = [
        road("w", &[(0., 0.), (1., 0.)]).with("from_node", "1").with("to_node", "7"),
        road("e", &[(1.2, 0.), (2., 0.)]).with("from_node", "7").with("to_node", "9"),
        road("x", &[(1.2, 0.), (1.2, 1.)]),
    ];
    let n = net(&far);
    assert_eq!((n.nodes.len(), n.report().components.count), (5, 2));
    let m = &n.report().source_node_mismatches;
    // Roads are taken in id order: "e" carries node 7 first, so "w"'s end is the one refused.
    assert_eq!((m.len(), m[0].road_id.as_str(), m[0].node_id.as_str()), (1, "w", "7"));
    assert!((m[0].distance_m - metres((1., 0.), (1.2, 0.))).abs() < 0.5, "{m:?}");
    // Ends within the snapping tolerance join without ids.
    let near = [road("w", &[(0., 0.), (1., 0.)]), road("e", &[(1. + 0.5e-6 / D, 0.), (2., 0.)])];
    assert_eq!(net(&near).nodes.len(), 3);
}

/// The multi-source search against petgraph's single-source Dijkstra run from every centre, on
/// random grids with random one-way streets and speeds.
#[test]
fn multi_source_search_agrees_with_petgraph_from_each_centre() {
    use petgraph::graph::{DiGraph, NodeIndex};
    use rand::{Rng, SeedableRng};
    for seed in 0..20u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let size = 8;
        let mut roads = vec![];
        for i in 0..size {
            for j in 0..size {
                for (di, dj) in [(1, 0), (0, 1)] {
                    if i + di >= size || j + dj >= size || rng.random_bool(0.15) {
                        continue;
                    }
                    let (a, b) = ((i as f64, j as f64), ((i + di) as f64, (j + dj) as f64));
                    let r = road(&format!("{i}-{j}-{di}"), &[a, b])
                        .with("oneway", [0, 0, 1, -1][rng.random_range(0..4)])
                        .with("speed_kmh", rng.random_range(10.0..60.0));
                    roads.push(r);
                }
            }
        }
        let n = net(&roads);
        let g = n.graph(TravelMode::Drive, &Speeds::default()).unwrap();
        let centres: Vec<usize> = (0..3).map(|_| rng.random_range(0..n.nodes.len())).collect();
        let seeds: Vec<Seed> =
            centres.iter().enumerate().map(|(c, &node)| Seed { node, cost: 0.0, length_m: 0.0, centre: c }).collect();
        let ours = nearest_centres(&g, &seeds, Metric::TimeS, Direction::ToCentre, f64::INFINITY);
        // petgraph on the reversed arcs: from each centre, the time of every node to it.
        let mut pg = DiGraph::<(), f64>::new();
        let idx: Vec<NodeIndex> = (0..n.nodes.len()).map(|_| pg.add_node(())).collect();
        for (from, to, _, t) in g.arcs() {
            pg.add_edge(idx[to], idx[from], t);
        }
        for node in 0..n.nodes.len() {
            let mut best: Option<(f64, usize)> = None;
            for (c, &start) in centres.iter().enumerate() {
                if let Some(&t) =
                    petgraph::algo::dijkstra(&pg, idx[start], Some(idx[node]), |e| *e.weight()).get(&idx[node])
                {
                    if best.is_none_or(|b| t < b.0 - 1e-9) {
                        best = Some((t, c));
                    }
                }
            }
            match best {
                None => assert_eq!(ours.centre[node], None, "seed {seed} node {node}"),
                Some((t, _)) => {
                    assert!(close(ours.cost[node], t), "seed {seed} node {node}: {} vs {t}", ours.cost[node]);
                }
            }
        }
    }
}

#[test]
fn ways_are_cut_where_they_share_a_vertex_but_not_where_they_only_cross() {
    // A way west-east through (1,0), and a way south-north through the same vertex: a junction
    // in the middle of both, as OpenStreetMap draws them. A third way crosses the first at
    // (2.5,0) without a vertex there: a bridge.
    let roads = [
        road("main", &[(0., 0.), (1., 0.), (2., 0.), (3., 0.)]),
        road("cross", &[(1., -1.), (1., 0.), (1., 1.)]),
        road("bridge", &[(2.5, -1.), (2.5, 1.)]),
    ];
    let n = net(&roads);
    // main in two pieces, cross in two, the bridge whole; junctions: 4 ends of main and cross,
    // the shared vertex, the bridge's 2 ends.
    assert_eq!((n.edges.len(), n.nodes.len()), (5, 7));
    assert_eq!(n.report().components.count, 2);
    let pieces: Vec<(&str, usize)> = n.edges.iter().map(|e| (e.road_id.as_str(), e.piece)).collect();
    assert_eq!(pieces, [("bridge", 0), ("cross", 0), ("cross", 1), ("main", 0), ("main", 1)]);
    // From the south end of the cross street to the east end of main: through the junction.
    let g = n.graph(TravelMode::Walk, &Speeds::default()).unwrap();
    let homes = Origins::from_points(&[point("south", 1., -1.)], None);
    let centres = Origins::from_points(&[point("east", 3., 0.)], None);
    let r = coverage(&g, &homes, &centres, &CoverageOptions::default()).unwrap();
    let m = metres((1., -1.), (1., 0.)) + metres((1., 0.), (3., 0.));
    assert!((r.origins[0].network_m.unwrap() - m).abs() < 1e-6, "{:?} vs {m}", r.origins[0]);
    // Without cutting, the two ways do not meet.
    let whole = RoadNetwork::from_roads(
        &roads,
        &NetworkOptions { split_at_shared_vertices: false, ..NetworkOptions::default() },
    )
    .unwrap();
    assert_eq!((whole.edges.len(), whole.report().components.count), (3, 3));
}

#[test]
fn on_one_one_way_edge_a_centre_behind_you_is_reached_the_long_way_round() {
    // A one-way ring; the home and the centre on the bottom street, the centre upstream of it.
    let ring = [
        road("bottom", &[(0., 0.), (4., 0.)]),
        road("east", &[(4., 0.), (4., 1.)]),
        road("top", &[(4., 1.), (0., 1.)]),
        road("west", &[(0., 1.), (0., 0.)]),
    ]
    .map(|r| r.with("oneway", 1).with("speed_kmh", 36.0));
    let n = net(&ring);
    let drive = n.graph(TravelMode::Drive, &Speeds::default()).unwrap();
    let homes = Origins::from_points(&[point("home", 3., 0.)], None);
    let centres = Origins::from_points(&[point("hall", 1., 0.)], None);
    let r = coverage(&drive, &homes, &centres, &CoverageOptions::default()).unwrap();
    let round = metres((3., 0.), (4., 0.))
        + metres((4., 0.), (4., 1.))
        + metres((4., 1.), (0., 1.))
        + metres((0., 1.), (0., 0.))
        + metres((0., 0.), (1., 0.));
    assert!((r.origins[0].path_m.unwrap() - round).abs() < 1.0, "{:?} vs {round}", r.origins[0]);
    assert!((r.origins[0].time_s.unwrap() - round / 10.0).abs() < 0.1);
    // Downstream, straight along the edge without passing a junction.
    let r = coverage(&drive, &centres, &homes, &CoverageOptions::default()).unwrap();
    let straight = metres((1., 0.), (3., 0.));
    assert!((r.origins[0].path_m.unwrap() - straight).abs() < 1.0, "{:?} vs {straight}", r.origins[0]);
}

#[test]
fn a_road_with_zero_speed_drives_at_its_class_default_and_is_counted() {
    let roads = [
        road("a", &[(0., 0.), (1., 0.)]).with("class", "residential").with("speed_kmh", 0.0),
        road("b", &[(1., 0.), (2., 0.)]).with("class", "primary"),
    ];
    let n = net(&roads);
    let g = n.graph(TravelMode::Drive, &Speeds { urban_factor: 0.5, ..Speeds::default() }).unwrap();
    assert_eq!(g.report().speed_defaulted, 1);
    // residential 30 km/h and primary 50 km/h, both halved.
    let (a, b) = (metres((0., 0.), (1., 0.)), metres((1., 0.), (2., 0.)));
    assert!(close(g.forward_s[0], a / (15.0 / 3.6)), "{}", g.forward_s[0]);
    assert!(close(g.forward_s[1], b / (25.0 / 3.6)), "{}", g.forward_s[1]);
}

#[test]
fn the_network_does_not_depend_on_the_order_of_the_roads() {
    let roads = vec![
        road("a", &[(0., 0.), (1., 0.)]).with("from_node", "1").with("to_node", "2"),
        road("b", &[(1., 0.), (2., 0.)]).with("from_node", "2").with("to_node", "3"),
        road("c", &[(5., 5.), (6., 5.)]).with("from_node", "3").with("to_node", "4"),
        road("d", &[(2., 0.), (2., 1.)]),
    ];
    let forward = net(&roads);
    let mut reversed = roads.clone();
    reversed.reverse();
    let backward = net(&reversed);
    assert_eq!(forward.report(), backward.report());
    let ends = |n: &RoadNetwork| -> Vec<(Coord, Coord)> {
        n.edges.iter().map(|e| (n.nodes[e.from].position, n.nodes[e.to].position)).collect()
    };
    assert_eq!(ends(&forward), ends(&backward));
    assert_eq!(forward.report().source_node_mismatches.len(), 1);
}

#[test]
fn a_piece_shorter_than_the_tolerance_between_two_junctions_collapses_into_one() {
    // Two side streets meet the main street 0.5 m apart: the 0.5 m piece between them becomes
    // part of one junction; the main street itself is in the network.
    let x = 1.0 + 0.5 / (D * 111_320.0);
    let roads = [
        road("main", &[(0., 0.), (1., 0.), (x, 0.), (2., 0.)]),
        road("north", &[(1., 0.), (1., 1.)]),
        road("south", &[(x, 0.), (x, -1.)]),
    ];
    let n = net(&roads);
    let r = n.report();
    assert!(r.unjoined.is_empty(), "{:?}", r.unjoined);
    assert_eq!(r.collapsed.len(), 1);
    assert!(
        r.collapsed[0].id == "main" && r.collapsed[0].reason.starts_with("line 0 piece 1: degenerate"),
        "{:?}",
        r.collapsed
    );
    assert_eq!((n.edges.len(), n.nodes.len(), r.components.count), (4, 5, 1));
}

/// A 5 × 5 street grid (edges of 1/128 degree, about 870 m: 10.9 minutes on foot), a detached
/// street far to the east, residents at junctions, and the run's figures recomputed by brute
/// force: all-pairs times by Floyd–Warshall, the best sites by trying every pair.
mod whole_run {
    use geo::{Contains, Polygon};

    use super::*;
    use crate::run::{compute, CandidateSource, CoverageRunRequest, NoProgress};
    use crate::source::CityCoverageRequest;

    fn grid() -> Vec<Feature> {
        let mut roads = vec![];
        for i in 0..5 {
            for j in 0..4 {
                let (i, j) = (i as f64, j as f64);
                roads.push(road(&format!("h{i}{j}"), &[(j, i), (j + 1.0, i)]));
                roads.push(road(&format!("v{i}{j}"), &[(i, j), (i, j + 1.0)]));
            }
        }
        // Detached: no junction with the grid.
        roads.push(road("island", &[(20., 0.), (21., 0.)]));
        roads
    }

    fn resident(id: &str, x: f64, y: f64, people: f64) -> Feature {
        point(id, x, y).with("population", people)
    }

    fn request(minutes: f64, suggest: usize) -> CoverageRunRequest {
        let mut city = CityCoverageRequest { mode: TravelMode::Walk, ..CityCoverageRequest::default() };
        city.coverage =
            CoverageOptions { minutes, km: 1.0, access_leg: AccessLeg::Ignored, ..CoverageOptions::default() };
        CoverageRunRequest {
            city,
            cutoffs_min: vec![10.0, 25.0],
            suggest,
            candidates: CandidateSource::Layer { layer: "service_centres".into(), kind: None },
            ..CoverageRunRequest::default()
        }
    }

    /// Minutes between every pair of junctions of the grid, by Floyd–Warshall.
    fn all_pairs() -> Vec<Vec<f64>> {
        let id = |x: usize, y: usize| y * 5 + x;
        let mut d = vec![vec![f64::INFINITY; 25]; 25];
        for (a, row) in d.iter_mut().enumerate() {
            row[a] = 0.0;
        }
        for y in 0..5 {
            for x in 0..5 {
                for (nx, ny) in [(x + 1, y), (x, y + 1)] {
                    if nx < 5 && ny < 5 {
                        let m = metres((x as f64, y as f64), (nx as f64, ny as f64)) / WALK / 60.0;
                        d[id(x, y)][id(nx, ny)] = m;
                        d[id(nx, ny)][id(x, y)] = m;
                    }
                }
            }
        }
        for k in 0..25 {
            for i in 0..25 {
                for j in 0..25 {
                    if d[i][k] + d[k][j] < d[i][j] {
                        d[i][j] = d[i][k] + d[k][j];
                    }
                }
            }
        }
        d
    }

    #[test]
    fn figures_recomputed_by_brute_force() {
        let roads = grid();
        let d = all_pairs();
        let at_node = |n: usize| ((n % 5) as f64, (n / 5) as f64);
        // A resident at every junction, n + 1 people at junction n; one on the island.
        let mut parcels: Vec<Feature> =
            (0..25).map(|n| resident(&format!("p{n:02}"), at_node(n).0, at_node(n).1, n as f64 + 1.0)).collect();
        parcels.push(resident("p-island", 20.5, 0.0, 7.0));
        let centres = vec![point("c0", 0., 0.), point("c1", 4., 4.), point("c-far", 50., 50.)];
        let sites: Vec<Feature> = (0..25).map(|n| point(&format!("s{n:02}"), at_node(n).0, at_node(n).1)).collect();
        let minutes = 25.0;
        let run = compute(&request(minutes, 2), &roads, &parcels, &centres, &sites, &NoProgress).unwrap();
        let r = &run.report;
        let centre_nodes = [0usize, 24];
        let time = |n: usize| centre_nodes.iter().map(|&c| d[n][c]).fold(f64::INFINITY, f64::min);
        let covered: Vec<usize> = (0..25).filter(|&n| time(n) <= minutes).collect();
        assert_eq!(r.summary.by_time.origins, covered.len());
        assert!(close(r.summary.by_time.weight, covered.iter().map(|&n| n as f64 + 1.0).sum()));
        // The island's resident is unreached and said so; the far centre is left out and said so.
        assert_eq!(r.summary.unreached.origins, 1);
        let island = run.features.iter().find(|f| f.id == "access-p-island").unwrap();
        assert!(island.text("unreached").unwrap().contains("from the nearest road"), "{island:?}");
        assert!(r.centres[2].unusable.as_deref().unwrap().contains("from the nearest road"));
        // Per centre and cutoff: origins reached, and isochrones that hold the nodes they claim.
        for (ci, &c) in centre_nodes.iter().enumerate() {
            for reach in &r.centres[ci].reach {
                let want = (0..25).filter(|&n| d[n][c] <= reach.minutes).count();
                assert_eq!(reach.origins, want, "centre {ci} at {} min", reach.minutes);
                assert_eq!(reach.nodes, want);
                let iso =
                    run.features.iter().find(|f| f.id == format!("isochrone-c{ci}-{}min", reach.minutes)).unwrap();
                let Some(Geometry::MultiPolygon(poly)) = &iso.geometry else { panic!() };
                for n in (0..25).filter(|&n| d[n][c] <= reach.minutes) {
                    assert!(poly.contains(&Point(at(at_node(n).0, at_node(n).1))), "node {n}");
                }
                // And no junction beyond reach lies inside (the outline is within two 20 m cells of the roads).
                for n in (0..25).filter(|&n| d[n][c] > reach.minutes) {
                    assert!(!poly.contains(&Point(at(at_node(n).0, at_node(n).1))), "node {n}");
                }
            }
            // Closing it loses what no other centre covers.
            let other = centre_nodes[1 - ci];
            let lost: f64 =
                (0..25).filter(|&n| d[n][c] <= minutes && d[n][other] > minutes).map(|n| n as f64 + 1.0).sum();
            assert!(close(r.centres[ci].closure_loss_weight, lost));
        }
        // Uncovered: the grid residents beyond 25 minutes and 1 km, and the island's.
        let uncovered = (0..25).filter(|&n| time(n) > minutes).count() + 1;
        assert_eq!(r.uncovered.parcels, uncovered);
        // The best two new sites, by trying every pair.
        let s = r.suggestion.as_ref().unwrap();
        let gain = |a: usize, b: usize| -> f64 {
            (0..25)
                .filter(|&n| time(n) > minutes && (d[n][a] <= minutes || d[n][b] <= minutes))
                .map(|n| n as f64 + 1.0)
                .sum()
        };
        let best = (0..25).flat_map(|a| (0..25).map(move |b| (a, b))).map(|(a, b)| gain(a, b)).fold(0.0, f64::max);
        assert!(close(s.exact.as_ref().unwrap().covered_weight, best), "{s:?} vs {best}");
        assert_eq!(s.exact_proven_optimal, Some(true));
        assert!(s.swapped.covered_weight <= best + 1e-9 && s.greedy.covered_weight <= s.swapped.covered_weight + 1e-9);
        assert_eq!(s.unreachable_origins, 0, "the island resident is not demand: no road reaches it");
        let gains: f64 = s.greedy.sites.iter().map(|x| x.gain).sum();
        assert!(close(gains, s.greedy.covered_weight));
        // Same inputs, same outputs.
        let again = compute(&request(minutes, 2), &roads, &parcels, &centres, &sites, &NoProgress).unwrap();
        assert_eq!(again, run);
    }

    #[test]
    fn uncovered_areas_are_the_union_of_the_uncovered_parcels() {
        let square = |id: &str, x: f64, y: f64| {
            let r = 0.1;
            let ring = vec![at(x - r, y - r), at(x + r, y - r), at(x + r, y + r), at(x - r, y + r), at(x - r, y - r)];
            Feature::new(id, Some(Geometry::Polygon(Polygon::new(LineString(ring), vec![]))))
        };
        // Two touching parcels far from the centre (one area), one near it, one without geometry.
        let parcels =
            vec![square("a", 4.0, 4.0), square("b", 4.2, 4.0), square("near", 0.0, 0.0), Feature::new("none", None)];
        let run = compute(&request(15.0, 0), &grid(), &parcels, &[point("c0", 0., 0.)], &[], &NoProgress).unwrap();
        let r = &run.report;
        assert_eq!(r.parcel_problems.len(), 1);
        assert_eq!((r.parcel_problems[0].id.as_str(), r.parcel_problems[0].reason.as_str()), ("none", "no geometry"));
        assert_eq!((r.uncovered.parcels, r.uncovered.polygons), (2, 1));
        let area = |id: &str| {
            use geo::GeodesicArea;
            parcels.iter().find(|p| p.id == id).unwrap().geometry.as_ref().unwrap().geodesic_area_unsigned() / 1e6
        };
        // (In the network's local projection, within 1 % of the geodesic area here.)
        let want = area("a") + area("b");
        assert!((r.uncovered.area_km2 - want).abs() < 0.01 * want, "{:?}", r.uncovered);
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // junction numbers index the all-pairs table
    fn what_if_answers_as_brute_force_does() {
        let d = all_pairs();
        let at_node = |n: usize| ((n % 5) as f64, (n / 5) as f64);
        let parcels: Vec<Feature> =
            (0..25).map(|n| resident(&format!("p{n:02}"), at_node(n).0, at_node(n).1, n as f64 + 1.0)).collect();
        let n = net(&grid());
        let g = n.graph(TravelMode::Walk, &Speeds::default()).unwrap();
        let homes = Origins::from_parcels(&parcels, ParcelWeight::Population);
        let centres = Origins::from_points(&[point("c0", 0., 0.), point("c1", 4., 4.)], None);
        let options = request(25.0, 0).city.coverage;
        let cov = coverage(&g, &homes, &centres, &options).unwrap();
        let what_if = crate::run::WhatIf::new(&g, &options, &cov);
        let time = |n: usize| d[n][0].min(d[n][24]);
        for site in 0..25 {
            let change = what_if.add(Point(at(at_node(site).0, at_node(site).1))).unwrap();
            let want: Vec<usize> = (0..25).filter(|&n| time(n) > 25.0 && d[n][site] <= 25.0).collect();
            assert_eq!(change.origins, want.len(), "site {site}");
            assert!(close(change.weight, want.iter().map(|&n| n as f64 + 1.0).sum()));
        }
        for (ci, c) in [0usize, 24].into_iter().enumerate() {
            let other = if c == 0 { 24 } else { 0 };
            let lost = (0..25).filter(|&n| d[n][c] <= 25.0 && d[n][other] > 25.0).count();
            assert_eq!(what_if.remove(ci).origins, lost);
        }
        let err = what_if.add(Point(at(50., 50.))).unwrap_err();
        assert!(err.to_string().starts_with("the new centre: "), "{err}");
    }

    #[test]
    fn failures_are_reported_by_name() {
        let parcels = vec![resident("p", 1., 1., 1.)];
        // Every centre far from the roads.
        let err =
            compute(&request(25.0, 0), &grid(), &parcels, &[point("far", 50., 50.)], &[], &NoProgress).unwrap_err();
        assert!(matches!(err, AnalysisError::NoUsableCentre { .. }), "{err}");
        assert!(err.to_string().contains("far:"), "{err}");
        // A mode with zero speed.
        let mut req = request(25.0, 0);
        req.city.speeds.walk_kmh = 0.0;
        let err = compute(&req, &grid(), &parcels, &[point("c", 0., 0.)], &[], &NoProgress).unwrap_err();
        assert_eq!(err.to_string(), "walking speed (km/h) must be a finite number above zero, got 0");
        // No centre at all, bad cutoffs, a bad grid.
        let err = compute(&request(25.0, 0), &grid(), &parcels, &[], &[], &NoProgress).unwrap_err();
        assert!(matches!(err, AnalysisError::NoCentres { .. }));
        let mut req = request(25.0, 0);
        req.cutoffs_min = vec![10.0, -5.0];
        let err = compute(&req, &grid(), &parcels, &[point("c", 0., 0.)], &[], &NoProgress).unwrap_err();
        assert_eq!(err.to_string(), "isochrone cutoff (minutes) must be a finite number above zero, got -5");
        // Roads none of which can be used.
        let err =
            compute(&request(25.0, 0), &[Feature::new("r", None)], &parcels, &[point("c", 0., 0.)], &[], &NoProgress)
                .unwrap_err();
        assert!(matches!(err, AnalysisError::NoNetwork { .. }), "{err}");
    }
}
