//! The plain-HTTP door when the panel serves HTTPS itself (`server.http_redirect_listen`,
//! issue #14): every request, whatever its method or path, is answered by a redirect to
//! the same path and query over HTTPS on the request's own host. It serves nothing else:
//! no page, no session, no static file, no `/api/`.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::http::{Method, header};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::domain::tls::https_location;

/// The port HTTPS listens on, handed to the handler.
#[derive(Clone, Copy)]
struct HttpsPort(u16);

/// Serves the redirects on `listener` (already bound) towards `https_port`.
pub fn serve(listener: TcpListener, https_port: u16) -> std::io::Result<(Server, SocketAddr)> {
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(HttpsPort(https_port)))
            .default_service(web::to(redirect))
    })
    // little to do per request: two workers are plenty
    .workers(2)
    .listen(listener)?
    .run();
    Ok((server, addr))
}

/// 301 for GET and HEAD, 308 for the rest (the method and body are kept); 400 when the
/// request has no usable Host header.
async fn redirect(req: HttpRequest, port: web::Data<HttpsPort>) -> HttpResponse {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let Some(location) = https_location(host, port.0, path) else {
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body("use https://\n");
    };
    let mut res = if matches!(*req.method(), Method::GET | Method::HEAD) {
        HttpResponse::MovedPermanently()
    } else {
        HttpResponse::PermanentRedirect()
    };
    res.insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
