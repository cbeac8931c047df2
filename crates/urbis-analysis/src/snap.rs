//! Snapping points onto the network: the nearest edge of a mode's largest component (an R*-tree
//! of segments in a local metric projection), the point on it and how far along the edge it is.

use geo::{Coord, Distance, Geodesic, Point};
use rstar::primitives::{GeomWithData, Line};
use rstar::{PointDistance, RTree};
use serde::Serialize;

use crate::graph::ModeGraph;

/// Where a point joins the network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Snap {
    pub edge: usize,
    /// Geodesic metres from the edge's start (`from` node) to the snapped point.
    pub offset_m: f64,
    /// Metres from the point to the road (the access leg).
    pub distance_m: f64,
    /// The snapped point, WGS 84.
    pub at: Point,
}

type Segment = GeomWithData<Line<[f64; 2]>, (u32, u32)>;

/// The segments of the edges of one mode's largest component.
pub struct EdgeIndex<'g> {
    graph: &'g ModeGraph<'g>,
    tree: RTree<Segment>,
}

impl<'g> EdgeIndex<'g> {
    pub fn new(graph: &'g ModeGraph<'g>) -> Self {
        let net = graph.network;
        let mut segments = vec![];
        for (i, e) in net.edges.iter().enumerate() {
            let usable = graph.forward_s[i].is_finite() || graph.backward_s[i].is_finite();
            if !usable || graph.component[e.from] != Some(0) {
                continue;
            }
            for (k, w) in e.geometry.0.windows(2).enumerate() {
                let (a, b) = (net.projection.project(w[0]), net.projection.project(w[1]));
                segments.push(GeomWithData::new(Line::new([a.x, a.y], [b.x, b.y]), (i as u32, k as u32)));
            }
        }
        EdgeIndex { graph, tree: RTree::bulk_load(segments) }
    }

    /// The nearest point of the largest component to `p`; `None` only for an empty index.
    pub fn snap(&self, p: Point) -> Option<Snap> {
        let proj = &self.graph.network.projection;
        let xy = proj.project(p.0);
        let q = [xy.x, xy.y];
        let seg = self.tree.nearest_neighbor(&q)?;
        let (edge, k) = (seg.data.0 as usize, seg.data.1 as usize);
        let line = seg.geom();
        let (a, b) = (line.from, line.to);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 { (((q[0] - a[0]) * dx + (q[1] - a[1]) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
        let on = proj.unproject(Coord { x: a[0] + t * dx, y: a[1] + t * dy });
        let e = &self.graph.network.edges[edge];
        let start = e.geometry.0[k];
        let offset_m = (e.vertex_m[k] + Geodesic.distance(Point(start), Point(on))).min(e.vertex_m[k + 1]);
        debug_assert!(seg.geom().distance_2(&q).is_finite());
        Some(Snap { edge, offset_m, distance_m: Geodesic.distance(p, Point(on)), at: Point(on) })
    }
}
