// Generates the node-to-node gRPC code from proto/peer.proto (protoc from
// Debian's protobuf-compiler, DESIGN §8).
fn main() {
    println!("cargo:rerun-if-changed=proto/peer.proto");
    tonic_prost_build::compile_protos("proto/peer.proto").expect("compile proto/peer.proto (is protoc installed?)");
}
