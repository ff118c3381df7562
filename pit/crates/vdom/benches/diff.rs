//! A render of a 1,000-element tree with 5% changed (props, a move, an
//! insert, a removal).
use criterion::{Criterion, criterion_group, criterion_main};
use pit_vdom::{Node, Vdom};

fn tree(changed: bool) -> Node<()> {
    let mut root: Node<()> = Node::new("div");
    for i in 0..100 {
        let mut row = Node::new("div").key(format!("row{i}")).prop("class", "row");
        for j in 0..9 {
            let hot = changed && (i * 9 + j) % 20 == 0;
            row = row.child(Node::new("span").prop("value", if hot { i * 100 + j + 1 } else { i * 100 + j }));
        }
        root = root.child(row);
    }
    if changed {
        root.children.swap(3, 60);
        root.children.remove(10);
        root.children.insert(20, Node::new("div").key("new").into());
    }
    root
}

fn bench(c: &mut Criterion) {
    let (a, b) = (std::sync::Arc::new(tree(false)), std::sync::Arc::new(tree(true)));
    c.bench_function("render 1000 nodes, 5% changed", |bench| {
        let mut v: Vdom<()> = Vdom::default();
        v.render(&a).unwrap();
        let mut flip = false;
        bench.iter(|| {
            flip = !flip;
            v.render(if flip { &b } else { &a }).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
