//! A packed R-tree written straight into the shadow tables of SQLite's r-tree module, for bulk
//! loads into an empty GeoPackage spatial index: sort-tile-recursive packing of the boxes into
//! full nodes, then each node as the blob SQLite itself would write (SQLite's `rtree.c` file
//! format: a big-endian depth and cell count, then cells of a 64-bit id and four 32-bit floats).
//! The result is an ordinary r-tree: SQLite reads, checks (`rtreecheck`) and updates it as if it
//! had built it entry by entry, only packed tighter and built in a fraction of the time.

/// Bytes of one cell of a 2-D `rtree`: the id, then minx, maxx, miny, maxy as 32-bit floats.
const CELL_BYTES: usize = 8 + 4 * 4;
/// SQLite refuses a tree deeper than this (RTREE_MAX_DEPTH).
const MAX_DEPTH: usize = 40;

/// One entry of the index: a row id and its box as SQLite stores it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry {
    pub id: i64,
    /// minx, maxx, miny, maxy, rounded outwards to 32-bit floats.
    pub rect: [f32; 4],
}

impl Entry {
    /// The entry of a row whose geometry has the envelope minx, maxx, miny, maxy, rounded the way
    /// SQLite rounds values it stores in a 32-bit r-tree (minima down, maxima up).
    pub fn new(id: i64, envelope: [f64; 4]) -> Self {
        let [minx, maxx, miny, maxy] = envelope;
        Entry { id, rect: [round_down(minx), round_up(maxx), round_down(miny), round_up(maxy)] }
    }

    fn centre(&self, axis: usize) -> f64 {
        (f64::from(self.rect[2 * axis]) + f64::from(self.rect[2 * axis + 1])) / 2.0
    }
}

// The same arithmetic as rtreeValueDown/rtreeValueUp, so that a packed box is bit for bit the box
// SQLite would have stored for the same row.
const ROUND_TOWARDS: f64 = 1.0 - 1.0 / 8_388_608.0;
const ROUND_AWAY: f64 = 1.0 + 1.0 / 8_388_608.0;

fn round_down(d: f64) -> f32 {
    let f = d as f32;
    if f64::from(f) > d {
        (d * if d < 0.0 { ROUND_AWAY } else { ROUND_TOWARDS }) as f32
    } else {
        f
    }
}

fn round_up(d: f64) -> f32 {
    let f = d as f32;
    if f64::from(f) < d {
        (d * if d < 0.0 { ROUND_TOWARDS } else { ROUND_AWAY }) as f32
    } else {
        f
    }
}

/// The rows of the three shadow tables of a packed tree.
#[derive(Debug, Default)]
pub(crate) struct Packed {
    /// `<rtree>_node`: node number and its blob, the root (node 1) first.
    pub nodes: Vec<(i64, Vec<u8>)>,
    /// `<rtree>_rowid`: entry id and the leaf that holds it, by id.
    pub rowids: Vec<(i64, i64)>,
    /// `<rtree>_parent`: every node but the root and its parent.
    pub parents: Vec<(i64, i64)>,
}

/// How many cells a node of `node_size` bytes holds.
pub(crate) fn capacity(node_size: usize) -> usize {
    node_size.saturating_sub(4) / CELL_BYTES
}

/// A node under construction: its cells (child index in the level below, or entry id) and boxes.
struct Node {
    cells: Vec<Entry>,
}

impl Node {
    fn bounds(&self) -> [f32; 4] {
        let mut r = [f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY];
        for c in &self.cells {
            r[0] = r[0].min(c.rect[0]);
            r[1] = r[1].max(c.rect[1]);
            r[2] = r[2].min(c.rect[2]);
            r[3] = r[3].max(c.rect[3]);
        }
        r
    }
}

/// Sort-tile-recursive grouping of `items` into nodes of at most `m` cells: vertical slices by
/// centre x, each cut into runs of `m` by centre y.
fn tile(mut items: Vec<Entry>, m: usize) -> Vec<Node> {
    let leaves = items.len().div_ceil(m);
    let slices = (leaves as f64).sqrt().ceil() as usize;
    let per_slice = slices.max(1) * m;
    items.sort_by(|a, b| a.centre(0).total_cmp(&b.centre(0)));
    let mut nodes = Vec::with_capacity(leaves);
    for slice in items.chunks_mut(per_slice) {
        slice.sort_by(|a, b| a.centre(1).total_cmp(&b.centre(1)));
        nodes.extend(slice.chunks(m).map(|cells| Node { cells: cells.to_vec() }));
    }
    nodes
}

/// Packs `entries` into a tree of nodes of `node_size` bytes (the size of the existing root:
/// SQLite reads the node size from it). `None` if the node size cannot hold two cells or the
/// tree would be deeper than SQLite allows.
pub(crate) fn pack(entries: Vec<Entry>, node_size: usize) -> Option<Packed> {
    let m = capacity(node_size);
    if m < 2 {
        return None;
    }
    let mut packed = Packed::default();
    if entries.is_empty() {
        packed.nodes.push((1, node_blob(node_size, 0, &[])));
        return Some(packed);
    }
    // levels[0] are the leaves; a cell of levels[k > 0] has as id the index of its child in
    // levels[k - 1].
    let mut levels: Vec<Vec<Node>> = vec![tile(entries, m)];
    while levels.last().is_some_and(|l| l.len() > 1) {
        let below = levels.last().expect("a level");
        let parents: Vec<Entry> =
            below.iter().enumerate().map(|(i, n)| Entry { id: i as i64, rect: n.bounds() }).collect();
        levels.push(tile(parents, m));
    }
    let depth = levels.len() - 1;
    if depth > MAX_DEPTH {
        return None;
    }
    // Node numbers top down, so that the root is node 1.
    let mut numbers: Vec<Vec<i64>> = levels.iter().map(|l| vec![0; l.len()]).collect();
    let mut next = 1i64;
    for level in numbers.iter_mut().rev() {
        for number in level.iter_mut() {
            *number = next;
            next += 1;
        }
    }
    for (k, level) in levels.iter().enumerate().rev() {
        for (i, node) in level.iter().enumerate() {
            let number = numbers[k][i];
            let cells: Vec<Entry> = if k == 0 {
                packed.rowids.extend(node.cells.iter().map(|c| (c.id, number)));
                node.cells.clone()
            } else {
                node.cells
                    .iter()
                    .map(|c| {
                        let child = numbers[k - 1][c.id as usize];
                        packed.parents.push((child, number));
                        Entry { id: child, rect: c.rect }
                    })
                    .collect()
            };
            let node_depth = if number == 1 { depth as u16 } else { 0 };
            packed.nodes.push((number, node_blob(node_size, node_depth, &cells)));
        }
    }
    packed.rowids.sort_unstable();
    packed.parents.sort_unstable();
    Some(packed)
}

/// One node as SQLite stores it: depth (meaningful in the root only) and cell count as big-endian
/// 16-bit integers, the cells, zeros to the node size.
fn node_blob(node_size: usize, depth: u16, cells: &[Entry]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(node_size);
    blob.extend_from_slice(&depth.to_be_bytes());
    blob.extend_from_slice(&(cells.len() as u16).to_be_bytes());
    for c in cells {
        blob.extend_from_slice(&c.id.to_be_bytes());
        for v in c.rect {
            blob.extend_from_slice(&v.to_bits().to_be_bytes());
        }
    }
    blob.resize(node_size, 0);
    blob
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_node(blob: &[u8]) -> (u16, Vec<Entry>) {
        let depth = u16::from_be_bytes([blob[0], blob[1]]);
        let n = usize::from(u16::from_be_bytes([blob[2], blob[3]]));
        let cells = (0..n)
            .map(|i| {
                let c = &blob[4 + i * CELL_BYTES..4 + (i + 1) * CELL_BYTES];
                let id = i64::from_be_bytes(c[0..8].try_into().unwrap());
                let f = |j: usize| f32::from_bits(u32::from_be_bytes(c[8 + 4 * j..12 + 4 * j].try_into().unwrap()));
                Entry { id, rect: [f(0), f(1), f(2), f(3)] }
            })
            .collect();
        (depth, cells)
    }

    #[test]
    fn rounding_contains_the_value() {
        for d in [0.1, -0.1, 71.123_456_789, -71.123_456_789, 1e-30, 0.0, 42.0, 1e30] {
            assert!(f64::from(round_down(d)) <= d, "{d}");
            assert!(f64::from(round_up(d)) >= d, "{d}");
        }
        // Exactly representable values stay as they are.
        assert_eq!(round_down(0.5), 0.5);
        assert_eq!(round_up(-42.0), -42.0);
    }

    #[test]
    fn every_entry_is_in_one_leaf_under_boxes_that_contain_it() {
        let entries: Vec<Entry> = (0..5000)
            .map(|i| {
                let x = (i % 97) as f64 * 0.01 - 71.0;
                let y = (i / 97) as f64 * 0.01 + 42.0;
                Entry::new(i + 1, [x, x + 0.003, y, y + 0.002])
            })
            .collect();
        let packed = pack(entries.clone(), 1228).unwrap();
        assert_eq!(packed.rowids.len(), entries.len());
        assert_eq!(packed.parents.len(), packed.nodes.len() - 1);
        let nodes: std::collections::HashMap<i64, &Vec<u8>> = packed.nodes.iter().map(|(n, b)| (*n, b)).collect();
        assert!(nodes.values().all(|b| b.len() == 1228));
        let (depth, _) = read_node(nodes[&1]);
        assert_eq!(depth, 2, "5000 entries at 51 a node: 99 leaves, 2 inner nodes, the root");
        // Walk down from the root: every entry found once, inside every box on its way.
        let mut found = vec![];
        let mut stack = vec![(1i64, depth, None::<[f32; 4]>)];
        while let Some((number, level, outer)) = stack.pop() {
            let (_, cells) = read_node(nodes[&number]);
            assert!(cells.len() <= capacity(1228) && !cells.is_empty());
            for c in cells {
                if let Some(o) = outer {
                    assert!(o[0] <= c.rect[0] && o[1] >= c.rect[1] && o[2] <= c.rect[2] && o[3] >= c.rect[3]);
                }
                if level == 0 {
                    assert!(packed.rowids.binary_search(&(c.id, number)).is_ok());
                    found.push(c);
                } else {
                    assert!(packed.parents.binary_search(&(c.id, number)).is_ok());
                    stack.push((c.id, level - 1, Some(c.rect)));
                }
            }
        }
        found.sort_by_key(|e| e.id);
        assert_eq!(found, entries);
    }

    #[test]
    fn few_entries_make_a_leaf_root_and_none_an_empty_one() {
        let packed = pack(vec![Entry::new(7, [1.0, 2.0, 3.0, 4.0])], 1228).unwrap();
        assert_eq!(packed.nodes.len(), 1);
        assert_eq!(read_node(&packed.nodes[0].1), (0, vec![Entry::new(7, [1.0, 2.0, 3.0, 4.0])]));
        let empty = pack(vec![], 1228).unwrap();
        assert_eq!(empty.nodes, vec![(1, vec![0; 1228])]);
        assert!(pack(vec![], 40).is_none(), "a node that holds one cell is no tree");
    }
}
