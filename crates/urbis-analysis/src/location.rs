//! Where to put the next centres: the maximal covering location problem. Given the demand that
//! the existing centres leave uncovered (weighted origins) and, for each candidate site, the
//! demand it would cover, choose `k` sites covering the most weight.
//!
//! - [`greedy`]: lazy greedy (a pick's gain can only shrink as others are picked, so a stale gain
//!   is an upper bound and most candidates are never re-evaluated), then [`improve_by_swaps`]
//!   (vertex substitution: swap a pick for an unpicked site while that covers more);
//! - [`exact`]: the integer programme, solved by microlp through good_lp and warm-started by
//!   the greedy answer; demand points with the same set of candidates are merged first;
//! - [`brute_force`]: every k-subset, for tests on tiny instances.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use good_lp::{constraint, variable, Expression, ProblemVariables, Solution as _, SolverModel, Variable};
use serde::Serialize;

use crate::AnalysisError;

/// A covering instance: demand weights, and per candidate the demand points it covers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CoverInstance {
    pub demand: Vec<f64>,
    /// Sorted, without repeats; indices into `demand`.
    pub covers: Vec<Vec<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pick {
    pub candidate: usize,
    /// Weight newly covered by this pick, given the picks before it.
    pub gain: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    pub picks: Vec<Pick>,
    pub covered: f64,
}

impl CoverInstance {
    /// The weight `sites` cover together.
    pub fn covered_by(&self, sites: &[usize]) -> f64 {
        let mut seen = vec![false; self.demand.len()];
        let mut w = 0.0;
        for &s in sites {
            for &d in &self.covers[s] {
                if !std::mem::replace(&mut seen[d as usize], true) {
                    w += self.demand[d as usize];
                }
            }
        }
        w
    }

    /// Demand that no candidate covers: (points, weight).
    pub fn unreachable(&self) -> (usize, f64) {
        let mut seen = vec![false; self.demand.len()];
        for c in &self.covers {
            for &d in c {
                seen[d as usize] = true;
            }
        }
        seen.iter().zip(&self.demand).filter(|(s, _)| !**s).fold((0, 0.0), |(n, w), (_, d)| (n + 1, w + d))
    }

    /// `sites` in order, each with its marginal gain.
    pub fn selection(&self, sites: &[usize]) -> Selection {
        let mut seen = vec![false; self.demand.len()];
        let mut picks = vec![];
        let mut covered = 0.0;
        for &s in sites {
            let mut gain = 0.0;
            for &d in &self.covers[s] {
                if !std::mem::replace(&mut seen[d as usize], true) {
                    gain += self.demand[d as usize];
                }
            }
            covered += gain;
            picks.push(Pick { candidate: s, gain });
        }
        Selection { picks, covered }
    }
}

struct Stale(f64, usize);
impl PartialEq for Stale {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Stale {}
impl PartialOrd for Stale {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Stale {
    // Highest gain first, then the lowest candidate index (a max-heap).
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(o.1.cmp(&self.1))
    }
}

/// Lazy greedy: `k` picks (fewer if no candidate adds anything), each the largest gain given the
/// ones before it; ties to the lowest index.
pub fn greedy(instance: &CoverInstance, k: usize) -> Selection {
    let mut covered = vec![false; instance.demand.len()];
    let gain_of = |c: usize, covered: &[bool]| -> f64 {
        instance.covers[c].iter().filter(|&&d| !covered[d as usize]).map(|&d| instance.demand[d as usize]).sum()
    };
    let mut heap: BinaryHeap<Stale> =
        (0..instance.covers.len()).map(|c| Stale(gain_of(c, &covered), c)).filter(|s| s.0 > 0.0).collect();
    let mut picks = vec![];
    let mut total = 0.0;
    while picks.len() < k {
        let Some(Stale(_, c)) = heap.pop() else { break };
        let fresh = gain_of(c, &covered);
        // Still at least as good as every other (stale, hence optimistic) gain: take it.
        if heap.peek().is_none_or(|next| Stale(fresh, c) >= *next) {
            if fresh <= 0.0 {
                break;
            }
            for &d in &instance.covers[c] {
                covered[d as usize] = true;
            }
            total += fresh;
            picks.push(Pick { candidate: c, gain: fresh });
        } else if fresh > 0.0 {
            heap.push(Stale(fresh, c));
        }
    }
    Selection { picks, covered: total }
}

/// Vertex substitution: while swapping one pick for an unpicked candidate covers more, make the
/// best such swap. Returns the improved selection (gains recomputed in pick order).
pub fn improve_by_swaps(instance: &CoverInstance, start: &Selection) -> Selection {
    let mut sites: Vec<usize> = start.picks.iter().map(|p| p.candidate).collect();
    if sites.is_empty() {
        return start.clone();
    }
    let mut count = vec![0u32; instance.demand.len()];
    for &s in &sites {
        for &d in &instance.covers[s] {
            count[d as usize] += 1;
        }
    }
    let mut current: f64 = count.iter().zip(&instance.demand).filter(|(c, _)| **c > 0).map(|(_, w)| w).sum();
    loop {
        let mut best: Option<(f64, usize, usize)> = None;
        for (slot, &out) in sites.iter().enumerate() {
            // Weight lost by removing `out`: points it alone covers.
            let loss: f64 = instance.covers[out]
                .iter()
                .filter(|&&d| count[d as usize] == 1)
                .map(|&d| instance.demand[d as usize])
                .sum();
            for (cand, covers) in instance.covers.iter().enumerate() {
                if sites.contains(&cand) {
                    continue;
                }
                let gain: f64 = covers
                    .iter()
                    .filter(|&&d| {
                        let c = count[d as usize];
                        c == 0 || (c == 1 && instance.covers[out].binary_search(&d).is_ok())
                    })
                    .map(|&d| instance.demand[d as usize])
                    .sum();
                let delta = gain - loss;
                // A swap must gain more than rounding could fake.
                if delta > 1e-9 * current.max(1.0) && best.is_none_or(|b| delta > b.0) {
                    best = Some((delta, slot, cand));
                }
            }
        }
        let Some((delta, slot, cand)) = best else { break };
        for &d in &instance.covers[sites[slot]] {
            count[d as usize] -= 1;
        }
        for &d in &instance.covers[cand] {
            count[d as usize] += 1;
        }
        sites[slot] = cand;
        current += delta;
    }
    instance.selection(&sites)
}

/// The exact optimum, as far as the solver proved it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExactSelection {
    pub selection: Selection,
    /// Whether the solver proved optimality (false: stopped at the time limit, best found).
    pub proven_optimal: bool,
    /// Demand points and candidates after merging points with the same candidates.
    pub demand_groups: usize,
    pub candidates_used: usize,
}

/// The integer programme: y_j ∈ {0,1} per candidate, z_g ∈ [0,1] per demand group,
/// z_g ≤ Σ y_j over g's candidates, Σ y_j ≤ k, maximise Σ w_g z_g. Warm-started by `warm`.
pub fn exact(
    instance: &CoverInstance,
    k: usize,
    warm: Option<&Selection>,
    time_limit_s: f64,
) -> Result<ExactSelection, AnalysisError> {
    // Demand points grouped by the candidates that cover them.
    let mut by_point: Vec<Vec<u32>> = vec![vec![]; instance.demand.len()];
    for (c, covers) in instance.covers.iter().enumerate() {
        for &d in covers {
            by_point[d as usize].push(c as u32);
        }
    }
    let mut groups: BTreeMap<Vec<u32>, f64> = BTreeMap::new();
    for (d, cands) in by_point.into_iter().enumerate() {
        if !cands.is_empty() && instance.demand[d] > 0.0 {
            *groups.entry(cands).or_default() += instance.demand[d];
        }
    }
    let useful: Vec<usize> = {
        let mut u: Vec<usize> = groups.keys().flatten().map(|&c| c as usize).collect();
        u.sort_unstable();
        u.dedup();
        u
    };
    if useful.is_empty() || k == 0 {
        return Ok(ExactSelection {
            selection: Selection { picks: vec![], covered: 0.0 },
            proven_optimal: true,
            demand_groups: groups.len(),
            candidates_used: useful.len(),
        });
    }
    let warm_sites: Vec<usize> = warm.map(|w| w.picks.iter().map(|p| p.candidate).collect()).unwrap_or_default();
    let mut vars = ProblemVariables::new();
    let y: BTreeMap<usize, Variable> = useful
        .iter()
        .map(|&c| (c, vars.add(variable().binary().initial(if warm_sites.contains(&c) { 1.0 } else { 0.0 }))))
        .collect();
    let z: Vec<(Variable, f64, &Vec<u32>)> = groups
        .iter()
        .map(|(cands, &w)| {
            let on = cands.iter().any(|c| warm_sites.contains(&(*c as usize)));
            (vars.add(variable().min(0.0).max(1.0).initial(if on { 1.0 } else { 0.0 })), w, cands)
        })
        .collect();
    let objective: Expression = z.iter().map(|(v, w, _)| *w * *v).sum();
    let mut model = vars.maximise(objective).using(good_lp::microlp);
    let picked: Expression = y.values().copied().sum();
    model.add_constraint(constraint!(picked <= k as f64));
    for (v, _, cands) in &z {
        let reach: Expression = cands.iter().map(|c| y[&(*c as usize)]).sum();
        model.add_constraint(constraint!(*v <= reach));
    }
    let model = good_lp::WithTimeLimit::with_time_limit(model, time_limit_s);
    let solution = model.solve().map_err(|e| AnalysisError::Solver { reason: e.to_string() })?;
    let proven_optimal = matches!(solution.status(), good_lp::SolutionStatus::Optimal);
    let chosen: Vec<usize> = y.iter().filter(|(_, v)| solution.value(**v) > 0.5).map(|(c, _)| *c).collect();
    // In the greedy's order of gains, so the marginal gains read like the greedy's.
    let ordered = greedy(&CoverInstance { demand: instance.demand.clone(), covers: restrict(instance, &chosen) }, k);
    let sites: Vec<usize> = ordered.picks.iter().map(|p| chosen[p.candidate]).collect();
    Ok(ExactSelection {
        selection: instance.selection(&sites),
        proven_optimal,
        demand_groups: groups.len(),
        candidates_used: useful.len(),
    })
}

fn restrict(instance: &CoverInstance, sites: &[usize]) -> Vec<Vec<u32>> {
    sites.iter().map(|&s| instance.covers[s].clone()).collect()
}

/// Every subset of `k` candidates (or all of them, if fewer): the optimum by enumeration. For
/// tiny instances only (tests).
pub fn brute_force(instance: &CoverInstance, k: usize) -> Selection {
    let n = instance.covers.len();
    let k = k.min(n);
    let mut best: Option<(f64, Vec<usize>)> = None;
    let mut pick: Vec<usize> = (0..k).collect();
    loop {
        let w = instance.covered_by(&pick);
        if best.as_ref().is_none_or(|b| w > b.0 + 1e-9) {
            best = Some((w, pick.clone()));
        }
        // Next combination in lexicographic order.
        let mut i = k;
        while i > 0 && pick[i - 1] == n - k + i - 1 {
            i -= 1;
        }
        if i == 0 {
            break;
        }
        pick[i - 1] += 1;
        for j in i..k {
            pick[j] = pick[j - 1] + 1;
        }
    }
    let sites = best.map(|b| b.1).unwrap_or_default();
    instance.selection(&sites)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn random_instance(seed: u64, demand: usize, candidates: usize) -> CoverInstance {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let weights = (0..demand).map(|_| rng.random_range(1..20) as f64).collect();
        let covers = (0..candidates)
            .map(|_| {
                let mut c: Vec<u32> = (0..demand as u32).filter(|_| rng.random_bool(0.15)).collect();
                c.dedup();
                c
            })
            .collect();
        CoverInstance { demand: weights, covers }
    }

    #[test]
    fn exact_equals_brute_force_and_greedy_stays_within_its_bound() {
        // Greedy covers at least 1 - 1/e of the optimum (Nemhauser, Wolsey & Fisher); with swaps
        // it is usually optimal on instances this size. Both stated and checked.
        let mut worst_gap: f64 = 0.0;
        for seed in 0..40 {
            let inst = random_instance(seed, 40, 12);
            for k in 1..=4 {
                let brute = brute_force(&inst, k);
                let g = greedy(&inst, k);
                let swapped = improve_by_swaps(&inst, &g);
                let ex = exact(&inst, k, Some(&swapped), 30.0).unwrap();
                assert!(ex.proven_optimal);
                assert!((ex.selection.covered - brute.covered).abs() < 1e-6, "seed {seed} k {k}");
                assert!(g.covered >= (1.0 - 1.0 / std::f64::consts::E) * brute.covered - 1e-9);
                assert!(swapped.covered >= g.covered - 1e-9 && swapped.covered <= brute.covered + 1e-9);
                assert!(
                    (inst.covered_by(&g.picks.iter().map(|p| p.candidate).collect::<Vec<_>>()) - g.covered).abs()
                        < 1e-9
                );
                worst_gap = worst_gap.max((brute.covered - swapped.covered) / brute.covered.max(1.0));
            }
        }
        // The stated gap: on these 160 instances greedy with swaps is within 6 % of the optimum
        // (worst measured 5.2 %), far inside the 37 % of the general bound.
        assert!(worst_gap <= 0.06, "{worst_gap}");
    }

    #[test]
    fn the_lazy_greedy_takes_the_same_picks_as_the_plain_one() {
        for seed in 0..20 {
            let inst = random_instance(100 + seed, 60, 20);
            let lazy = greedy(&inst, 5);
            // Plain greedy: re-evaluate every candidate at every step.
            let mut chosen: Vec<usize> = vec![];
            for _ in 0..5 {
                let base = inst.covered_by(&chosen);
                let best = (0..inst.covers.len())
                    .filter(|c| !chosen.contains(c))
                    .map(|c| {
                        let mut with = chosen.clone();
                        with.push(c);
                        (c, inst.covered_by(&with) - base)
                    })
                    .fold(None::<(usize, f64)>, |b, x| if b.is_none_or(|b| x.1 > b.1) { Some(x) } else { b });
                match best {
                    Some((c, g)) if g > 0.0 => chosen.push(c),
                    _ => break,
                }
            }
            assert_eq!(lazy.picks.iter().map(|p| p.candidate).collect::<Vec<_>>(), chosen, "seed {seed}");
        }
    }

    #[test]
    fn unreachable_demand_and_empty_instances() {
        let inst = CoverInstance { demand: vec![1.0, 2.0, 4.0], covers: vec![vec![0], vec![0, 1]] };
        assert_eq!(inst.unreachable(), (1, 4.0));
        let g = greedy(&inst, 3);
        assert_eq!(g.picks, vec![Pick { candidate: 1, gain: 3.0 }]);
        let ex = exact(&inst, 3, Some(&g), 10.0).unwrap();
        assert_eq!(ex.selection.covered, 3.0);
        let none = CoverInstance { demand: vec![1.0], covers: vec![] };
        assert_eq!(greedy(&none, 2).covered, 0.0);
        assert_eq!(exact(&none, 2, None, 10.0).unwrap().selection.covered, 0.0);
    }
}
