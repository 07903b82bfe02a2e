//! Compositional pattern-producing networks (Stanley 2007), the indirect encoding of Nguyen et al. 2015.
//!
//! A genome is a directed acyclic graph from the inputs `x`, `y`, `d = √(x² + y²)` and a bias to one output per
//! image channel. Hidden nodes apply sine, sigmoid, Gaussian or linear activations; output nodes a sigmoid, so pixel
//! values lie in (0, 1). Acyclicity is kept by giving every node a position in (0, 1) (inputs at 0, outputs at 1)
//! and only allowing connections from a lower to a higher position. Mutations (no crossover) perturb weights, add a
//! connection, split a connection with a new node (NEAT's add-node), or change a hidden node's activation.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use crate::ImageShape;

/// Activation functions of hidden nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Sine,
    Sigmoid,
    Gaussian,
    Linear,
}

impl Activation {
    pub const HIDDEN: [Activation; 4] =
        [Activation::Sine, Activation::Sigmoid, Activation::Gaussian, Activation::Linear];

    fn apply(self, v: f32) -> f32 {
        match self {
            Activation::Sine => v.sin(),
            Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            Activation::Gaussian => (-0.5 * v * v).exp(),
            Activation::Linear => v,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Node {
    activation: Activation,
    /// Position in the feed-forward order: inputs 0, outputs 1, hidden nodes strictly between.
    position: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Connection {
    from: usize,
    to: usize,
    weight: f32,
    enabled: bool,
}

/// A CPPN genome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cppn {
    nodes: Vec<Node>,
    connections: Vec<Connection>,
    outputs: usize,
}

const N_INPUTS: usize = 4; // x, y, d, bias
const WEIGHT_LIMIT: f32 = 8.0;

/// Mutation probabilities (per offspring unless noted).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CppnMutation {
    /// Per connection: probability of a Gaussian weight perturbation.
    pub weight_rate: f64,
    /// Standard deviation of that perturbation.
    pub weight_sigma: f32,
    pub add_connection: f64,
    pub add_node: f64,
    pub change_activation: f64,
}

impl Default for CppnMutation {
    fn default() -> Self {
        CppnMutation {
            weight_rate: 0.3,
            weight_sigma: 0.6,
            add_connection: 0.25,
            add_node: 0.1,
            change_activation: 0.1,
        }
    }
}

impl CppnMutation {
    /// The same mutation with the weight perturbation's standard deviation multiplied by `strength` (the adapted
    /// step size of a lineage).
    pub fn scaled(&self, strength: f64) -> Self {
        CppnMutation { weight_sigma: self.weight_sigma * strength as f32, ..*self }
    }
}

impl Cppn {
    /// A minimal genome: every input wired to every output with N(0, 1.5²) weights, plus one hidden node of a
    /// random activation between a random input and a random output.
    pub fn random<R: Rng>(outputs: usize, rng: &mut R) -> Self {
        let mut nodes: Vec<Node> =
            (0..N_INPUTS).map(|_| Node { activation: Activation::Linear, position: 0.0 }).collect();
        nodes.extend((0..outputs).map(|_| Node { activation: Activation::Sigmoid, position: 1.0 }));
        let normal = Normal::new(0.0f32, 1.5).expect("valid normal");
        let mut connections = Vec::new();
        for o in 0..outputs {
            for i in 0..N_INPUTS {
                connections.push(Connection { from: i, to: N_INPUTS + o, weight: normal.sample(rng), enabled: true });
            }
        }
        let mut g = Cppn { nodes, connections, outputs };
        let c = rng.random_range(0..g.connections.len());
        g.split(c, rng);
        g
    }

    /// [`Cppn::random`] grown by `extra` more hidden nodes, each splitting a random enabled connection and followed
    /// by a new random connection (when one is possible): richer patterns from the first generation.
    pub fn random_grown<R: Rng>(outputs: usize, extra: usize, rng: &mut R) -> Self {
        let mut g = Cppn::random(outputs, rng);
        let normal = Normal::new(0.0f32, 1.5).expect("valid normal");
        for _ in 0..extra {
            let enabled: Vec<usize> = (0..g.connections.len()).filter(|&i| g.connections[i].enabled).collect();
            let c = enabled[rng.random_range(0..enabled.len())];
            g.split(c, rng);
            g.try_connect(normal.sample(rng), rng);
        }
        g
    }

    /// Adds a connection between two random nodes if it keeps the graph feed-forward and is new.
    fn try_connect<R: Rng>(&mut self, weight: f32, rng: &mut R) -> bool {
        let a = rng.random_range(0..self.nodes.len());
        let b = rng.random_range(N_INPUTS..self.nodes.len());
        let ok = self.nodes[a].position < self.nodes[b].position
            && !self.connections.iter().any(|c| c.from == a && c.to == b && c.enabled);
        if ok {
            self.connections.push(Connection { from: a, to: b, weight, enabled: true });
        }
        ok
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    pub fn n_connections(&self) -> usize {
        self.connections.iter().filter(|c| c.enabled).count()
    }

    /// Replaces enabled connection `c` (a → b) by a → new → b (weights 1 and the old weight).
    fn split<R: Rng>(&mut self, c: usize, rng: &mut R) {
        let (from, to, weight) = (self.connections[c].from, self.connections[c].to, self.connections[c].weight);
        self.connections[c].enabled = false;
        let position = 0.5 * (self.nodes[from].position + self.nodes[to].position);
        let activation = Activation::HIDDEN[rng.random_range(0..Activation::HIDDEN.len())];
        self.nodes.push(Node { activation, position });
        let new = self.nodes.len() - 1;
        self.connections.push(Connection { from, to: new, weight: 1.0, enabled: true });
        self.connections.push(Connection { from: new, to, weight, enabled: true });
    }

    /// A mutated copy.
    pub fn mutate<R: Rng>(&self, m: &CppnMutation, rng: &mut R) -> Self {
        let mut g = self.clone();
        let normal = Normal::new(0.0f32, m.weight_sigma).expect("valid normal");
        let mut changed = false;
        for c in g.connections.iter_mut().filter(|c| c.enabled) {
            if rng.random_bool(m.weight_rate) {
                c.weight = (c.weight + normal.sample(rng)).clamp(-WEIGHT_LIMIT, WEIGHT_LIMIT);
                changed = true;
            }
        }
        if rng.random_bool(m.add_connection) {
            let weight = normal.sample(rng) * 2.0;
            changed |= g.try_connect(weight, rng);
        }
        if rng.random_bool(m.add_node) {
            let enabled: Vec<usize> = (0..g.connections.len()).filter(|&i| g.connections[i].enabled).collect();
            if !enabled.is_empty() {
                let c = enabled[rng.random_range(0..enabled.len())];
                g.split(c, rng);
                changed = true;
            }
        }
        let hidden = N_INPUTS + g.outputs;
        if g.nodes.len() > hidden && rng.random_bool(m.change_activation) {
            let n = rng.random_range(hidden..g.nodes.len());
            g.nodes[n].activation = Activation::HIDDEN[rng.random_range(0..Activation::HIDDEN.len())];
            changed = true;
        }
        if !changed {
            // Every offspring differs from its parent: perturb one weight.
            let enabled: Vec<usize> = (0..g.connections.len()).filter(|&i| g.connections[i].enabled).collect();
            let c = enabled[rng.random_range(0..enabled.len())];
            g.connections[c].weight = (g.connections[c].weight + normal.sample(rng)).clamp(-WEIGHT_LIMIT, WEIGHT_LIMIT);
        }
        g
    }

    /// Renders the genome at `shape` (its channel count must equal the genome's outputs): a row of pixel values in
    /// (0, 1), row-major (y, x, channel). Coordinates span [-1, 1] on both axes.
    pub fn render(&self, shape: ImageShape) -> Vec<f32> {
        let (h, w) = (shape.height, shape.width);
        let np = h * w;
        let coord = |i: usize, n: usize| if n > 1 { 2.0 * i as f32 / (n - 1) as f32 - 1.0 } else { 0.0 };
        let mut values: Vec<Vec<f32>> = vec![Vec::new(); self.nodes.len()];
        values[0] = (0..np).map(|p| coord(p % w, w)).collect();
        values[1] = (0..np).map(|p| coord(p / w, h)).collect();
        values[2] = values[0].iter().zip(&values[1]).map(|(x, y)| (x * x + y * y).sqrt()).collect();
        values[3] = vec![1.0; np];
        // Non-input nodes in feed-forward order (ties broken by index: equal positions never connect).
        let mut order: Vec<usize> = (N_INPUTS..self.nodes.len()).collect();
        order.sort_by(|&a, &b| self.nodes[a].position.total_cmp(&self.nodes[b].position).then(a.cmp(&b)));
        for &n in &order {
            let mut acc = vec![0f32; np];
            for c in self.connections.iter().filter(|c| c.enabled && c.to == n) {
                for (a, v) in acc.iter_mut().zip(&values[c.from]) {
                    *a += c.weight * v;
                }
            }
            let act = self.nodes[n].activation;
            acc.iter_mut().for_each(|a| *a = act.apply(*a));
            values[n] = acc;
        }
        let mut out = vec![0f32; np * shape.channels];
        for c in 0..shape.channels.min(self.outputs) {
            for (p, v) in values[N_INPUTS + c].iter().enumerate() {
                out[p * shape.channels + c] = *v;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn renders_in_range_and_stays_acyclic_under_mutation() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let shape = ImageShape::new(12, 10, 3);
        let mut g = Cppn::random(3, &mut rng);
        for _ in 0..200 {
            g = g.mutate(&CppnMutation::default(), &mut rng);
            for c in g.connections.iter().filter(|c| c.enabled) {
                assert!(g.nodes[c.from].position < g.nodes[c.to].position, "backward connection {c:?}");
            }
        }
        assert!(g.n_nodes() > N_INPUTS + 3 + 3, "topology never grew: {} nodes", g.n_nodes());
        let img = g.render(shape);
        assert_eq!(img.len(), shape.len());
        assert!(img.iter().all(|v| (0.0..=1.0).contains(v) && v.is_finite()));
        // A pattern, not a constant image.
        let (lo, hi) = img.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(hi - lo > 0.05, "flat image {lo}..{hi}");
    }
}
