fn main() {
    // Link arguments for a Node-API addon (symbols resolved by node at load).
    napi_build::setup();
}
